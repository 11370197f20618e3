//! The `kinetic` binary end to end: the emulator command's start-up line, flags and errors.

mod common;

use common::{hidden, wait_for_line, Browser};
use std::io::{BufRead, BufReader, Read, Write};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

/// The binary, with a configuration directory of its own (tokens it keeps stay out of the user's).
fn kinetic() -> Command {
    static DIR: std::sync::OnceLock<tempfile::TempDir> = std::sync::OnceLock::new();
    let dir = DIR.get_or_init(|| tempfile::tempdir().unwrap());
    let mut command = Command::new(env!("CARGO_BIN_EXE_kinetic"));
    command.env("KINETIC_CONFIG_DIR", dir.path());
    command
}

#[test]
fn emulator_prints_its_startup_line_then_serves() {
    let mut child = kinetic()
        .args([
            "emulator",
            "--port",
            "0",
            "--scale",
            "300",
            "--page-cap",
            "7",
            "--next-link",
        ])
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut stdout = BufReader::new(child.stdout.take().unwrap());
    let mut line = String::new();
    stdout.read_line(&mut line).unwrap();
    let info: serde_json::Value = serde_json::from_str(&line)
        .unwrap_or_else(|e| panic!("first line is not JSON ({e}): {line}"));
    assert_eq!(info["page_cap"], 7);
    assert_eq!(info["next_link"], true);
    assert_eq!(info["scale"], 300);
    let url = info["url"].as_str().unwrap();
    let addr = url.strip_prefix("http://").unwrap();
    let started = Instant::now();
    let mut stream = loop {
        match std::net::TcpStream::connect(addr) {
            Ok(s) => break s,
            Err(_) if started.elapsed() < Duration::from_secs(10) => {
                std::thread::sleep(Duration::from_millis(50))
            }
            Err(e) => panic!("cannot connect to {addr}: {e}"),
        }
    };
    write!(stream, "GET /{}/api/v1/Erp.BO.CustomerSvc/Customers HTTP/1.1\r\nHost: {addr}\r\nAuthorization: Basic bWFuYWdlcjpFcGljb3IxMjMh\r\nConnection: close\r\n\r\n", info["instance"].as_str().unwrap()).unwrap();
    let mut reply = String::new();
    stream.read_to_string(&mut reply).unwrap();
    assert!(reply.starts_with("HTTP/1.1 200"), "{reply}");
    let body: serde_json::Value =
        serde_json::from_str(reply.split("\r\n\r\n").nth(1).unwrap()).unwrap();
    assert_eq!(
        body["value"].as_array().unwrap().len(),
        7,
        "--page-cap applies"
    );
    assert!(body["odata.nextLink"].is_string(), "--next-link applies");
    child.kill().unwrap();
    let mut err = String::new();
    child
        .stderr
        .take()
        .unwrap()
        .read_to_string(&mut err)
        .unwrap();
    assert!(err.contains("generated 300 order lines"), "{err}");
    child.wait().unwrap();
}

#[test]
fn help_teaches_and_bad_input_fails_clearly() {
    let out = kinetic().args(["emulator", "--help"]).output().unwrap();
    let help = String::from_utf8(out.stdout).unwrap();
    assert!(out.status.success());
    for needle in [
        "--port",
        "--scale",
        "--db",
        "--page-cap",
        "--next-link",
        "--strict-paging",
        "--config",
        "Examples:",
    ] {
        assert!(help.contains(needle), "help lacks {needle}:\n{help}");
    }
    let out = kinetic()
        .args(["emulator", "--scale", "lots"])
        .output()
        .unwrap();
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("invalid value 'lots'"));
    let out = kinetic()
        .args(["emulator", "--config", "/nonexistent/emulator.toml"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("error: cannot read emulator config /nonexistent/emulator.toml"),
        "{err}"
    );
    assert!(
        out.stdout.is_empty(),
        "nothing on stdout when start-up fails"
    );
}

#[cfg(unix)]
#[test]
fn sigterm_stops_cleanly_and_removes_the_temporary_database() {
    let mut child = kinetic()
        .args(["emulator", "--port", "0", "--scale", "100"])
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let mut line = String::new();
    BufReader::new(child.stdout.take().unwrap())
        .read_line(&mut line)
        .unwrap();
    let info: serde_json::Value = serde_json::from_str(&line).unwrap();
    let db = std::path::PathBuf::from(info["db"].as_str().unwrap());
    assert!(db.exists());
    let status = Command::new("kill")
        .args(["-TERM", &child.id().to_string()])
        .status()
        .unwrap();
    assert!(status.success());
    let started = Instant::now();
    let exit = loop {
        if let Some(s) = child.try_wait().unwrap() {
            break s;
        }
        assert!(
            started.elapsed() < Duration::from_secs(20),
            "did not stop on SIGTERM"
        );
        std::thread::sleep(Duration::from_millis(50));
    };
    assert!(exit.success(), "{exit:?}");
    assert!(
        !db.parent().unwrap().exists(),
        "temporary database folder left behind"
    );
}

#[test]
fn strict_paging_flag_links_by_skiptoken_and_refuses_skip() {
    let (mut child, info) = start_emulator(&["--page-cap", "7", "--strict-paging"]);
    assert_eq!(info["strict_paging"], true);
    let url = info["url"].as_str().unwrap();
    let addr = url.strip_prefix("http://").unwrap();
    let get = |query: &str| {
        let mut stream = std::net::TcpStream::connect(addr).unwrap();
        write!(stream, "GET /{}/api/v1/Erp.BO.CustomerSvc/Customers{query} HTTP/1.1\r\nHost: {addr}\r\nAuthorization: Basic bWFuYWdlcjpFcGljb3IxMjMh\r\nConnection: close\r\n\r\n", info["instance"].as_str().unwrap()).unwrap();
        let mut reply = String::new();
        stream.read_to_string(&mut reply).unwrap();
        reply
    };
    let reply = get("");
    assert!(reply.starts_with("HTTP/1.1 200"), "{reply}");
    let body: serde_json::Value =
        serde_json::from_str(reply.split("\r\n\r\n").nth(1).unwrap()).unwrap();
    let link = body["odata.nextLink"].as_str().unwrap();
    assert!(
        link.contains("$skiptoken=") && !link.contains("$skip="),
        "{link}"
    );
    let reply = get("?$skip=7");
    assert!(reply.starts_with("HTTP/1.1 400"), "{reply}");
    assert!(reply.contains("follow that link"), "{reply}");
    child.kill().unwrap();
    child.wait().unwrap();
}

/// Starts `kinetic emulator` and returns the child and its start-up line.
fn start_emulator(extra: &[&str]) -> (std::process::Child, serde_json::Value) {
    let mut child = kinetic()
        .args(["emulator", "--port", "0", "--scale", "100"])
        .args(extra)
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let mut line = String::new();
    BufReader::new(child.stdout.take().unwrap())
        .read_line(&mut line)
        .unwrap();
    (child, serde_json::from_str(&line).unwrap())
}

#[test]
fn token_prints_a_token_for_each_bearer_scheme() {
    let (mut child, info) = start_emulator(&["--tls"]);
    for name in ["token", "azuread_client_secret", "oauth_discovery"] {
        let cs = info["connection_strings"][name].as_str().unwrap();
        let out = kinetic().args(["token", "-c", cs]).output().unwrap();
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert!(out.status.success(), "{name}: {stderr}");
        let token = String::from_utf8(out.stdout).unwrap();
        assert_eq!(
            token.trim().split('.').count(),
            3,
            "{name}: a JWT on stdout"
        );
    }
    // KINETIC_CONNECTION feeds the same settings.
    let out = kinetic()
        .arg("token")
        .env(
            "KINETIC_CONNECTION",
            info["connection_strings"]["token"].as_str().unwrap(),
        )
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    // Basic: a token from Epicor's token service for the same user; with a session too.
    for name in ["basic", "basic_session"] {
        let out = kinetic()
            .args([
                "token",
                "-c",
                info["connection_strings"][name].as_str().unwrap(),
            ])
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "{name}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        assert_eq!(
            String::from_utf8(out.stdout)
                .unwrap()
                .trim()
                .split('.')
                .count(),
            3,
            "{name}"
        );
    }
    // AuthScheme=None has no token: exit 2 with what to set.
    let none = format!(
        "URL={};ERPInstance=Kinetic;AuthScheme=None",
        info["url"].as_str().unwrap()
    );
    let out = kinetic().args(["token", "-c", &none]).output().unwrap();
    assert_eq!(
        out.status.code(),
        Some(2),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(String::from_utf8_lossy(&out.stderr).contains("AuthScheme"));
    // A typo is caught before any network call, and the password is never echoed.
    let out = kinetic()
        .args([
            "token",
            "-c",
            "URL=https://x.example;ERPInstance=K;User=u;Pasword=hunter2",
        ])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("did you mean `Password`"), "{err}");
    assert!(!err.contains("hunter2"), "{err}");
    // A wrong password is the server's refusal: exit 4 (not signed in).
    let bad = info["connection_strings"]["token"]
        .as_str()
        .unwrap()
        .replace("Password=Epicor123!", "Password=wrong");
    let out = kinetic().args(["token", "-c", &bad]).output().unwrap();
    assert_eq!(
        out.status.code(),
        Some(4),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(!String::from_utf8_lossy(&out.stderr).contains("wrong"));
    child.kill().unwrap();
    child.wait().unwrap();
}

#[test]
fn login_token_and_logout_with_device_code_browser_code_and_certificate() {
    let (mut emu, info) = start_emulator(&["--tls", "--device-interval", "1"]);
    let config = tempfile::tempdir().unwrap();
    let ca = info["tls_cert"].as_str().unwrap().to_string();
    let tenant = info["idp"]["tenant"].as_str().unwrap().to_string();
    let cs = |n: &str| info["connection_strings"][n].as_str().unwrap().to_string();
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    let token = |args: &[&str]| {
        kinetic()
            .args(args)
            .env("KINETIC_CONFIG_DIR", config.path())
            .env_remove("DISPLAY")
            .env_remove("WAYLAND_DISPLAY")
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap()
    };

    // Client credentials with a certificate.
    let out = token(&["token", "-c", &cs("azuread_client_cert")])
        .wait_with_output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );

    // Device code: the command prints the message; a person approves on another machine.
    let mut child = token(&["login", "-c", &cs("azuread_device")]);
    let mut stderr = BufReader::new(child.stderr.take().unwrap());
    let message = wait_for_line(&mut stderr, |l| l.contains("enter the code"));
    let uri = message
        .split_whitespace()
        .find(|w| w.starts_with("https://"))
        .unwrap()
        .to_string();
    let code = message
        .split("enter the code ")
        .nth(1)
        .unwrap()
        .split_whitespace()
        .next()
        .unwrap()
        .to_string();
    rt.block_on(async {
        let mut b = Browser::new(&ca);
        b.go(&uri, None).await;
        let (_, page, _) = b.go(&uri, Some(&[("otc", &code)])).await;
        let (_, page, _) = b
            .sign_in_as_alice(info["url"].as_str().unwrap(), &tenant, &page)
            .await;
        let consent = format!(
            "{}/{tenant}/oauth2/v2.0/consent",
            info["url"].as_str().unwrap()
        );
        let (_, done, _) = b
            .go(
                &consent,
                Some(&[
                    ("request", &hidden(&page, "request")),
                    ("decision", "accept"),
                ]),
            )
            .await;
        assert!(done.contains("You may now close this window"), "{done}");
    });
    let status = child.wait().unwrap();
    assert!(status.success());
    // Warm: the stored token is used, no sign-in.
    let started = Instant::now();
    let out = token(&["token", "-c", &cs("azuread_device")])
        .wait_with_output()
        .unwrap();
    let warm = started.elapsed();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert_eq!(
        String::from_utf8(out.stdout)
            .unwrap()
            .trim()
            .split('.')
            .count(),
        3
    );
    assert!(
        !String::from_utf8_lossy(&out.stderr).contains("enter the code"),
        "no second sign-in"
    );
    eprintln!("kinetic token with a warm store: {} ms", warm.as_millis());
    // The store holds no plaintext token.
    for entry in walk(config.path()) {
        let bytes = std::fs::read(&entry).unwrap();
        assert!(
            !String::from_utf8_lossy(&bytes).contains("eyJ"),
            "plaintext JWT in {}",
            entry.display()
        );
    }
    // Logout deletes it: a refresh-only connection now has nothing to use.
    let out = token(&["logout", "-c", &cs("azuread_device")])
        .wait_with_output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let refresh_only =
        cs("azuread_device").replace("InitiateOAuth=GETANDREFRESH", "InitiateOAuth=REFRESH");
    let out = token(&["token", "-c", &refresh_only])
        .wait_with_output()
        .unwrap();
    assert!(!out.status.success());

    // Authorization code in a browser, received on the loopback callback.
    // Port 0: the listener takes a free port and the redirect names it.
    let code = cs("azuread_code").replace(
        "CallbackURL=http://localhost:33333",
        "CallbackURL=http://localhost:0",
    );
    let mut child = token(&["token", "-c", &code]);
    let mut stderr = BufReader::new(child.stderr.take().unwrap());
    let url = wait_for_line(&mut stderr, |l| l.starts_with("https://"))
        .trim()
        .to_string();
    rt.block_on(async {
        let mut b = Browser::new(&ca);
        let (_, page, _) = b.go(&url, None).await;
        let (status, _, location) = b
            .sign_in_as_alice(info["url"].as_str().unwrap(), &tenant, &page)
            .await;
        assert_eq!(status, 302);
        let callback = location.unwrap();
        let port: u16 = callback
            .strip_prefix("http://localhost:")
            .and_then(|r| r.split(['/', '?']).next())
            .and_then(|p| p.parse().ok())
            .unwrap_or(0);
        assert_ne!(port, 0, "a real port: {callback}");
        let (status, _, _) = b
            .go(&callback.replace("localhost", "127.0.0.1"), None)
            .await;
        assert_eq!(status, 200);
    });
    let out = child.wait_with_output().unwrap();
    assert!(out.status.success());
    assert_eq!(
        String::from_utf8(out.stdout)
            .unwrap()
            .trim()
            .split('.')
            .count(),
        3
    );
    emu.kill().unwrap();
    emu.wait().unwrap();
}

fn walk(dir: &std::path::Path) -> Vec<std::path::PathBuf> {
    let mut out = Vec::new();
    for e in std::fs::read_dir(dir).unwrap().flatten() {
        let p = e.path();
        if p.is_dir() {
            out.extend(walk(&p));
        } else {
            out.push(p);
        }
    }
    out
}
