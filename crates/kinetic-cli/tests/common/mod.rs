//! What the end-to-end test binaries share: an emulator served in the test process, a person's
//! browser on the emulator's sign-in pages, and reading a child's output line by line.

// Each test binary uses a part of this module.
#![allow(dead_code)]

use std::io::{BufRead, BufReader};
use std::path::Path;
use std::process::Output;

/// An emulator started in this process on 127.0.0.1:0, served by its own runtime's workers while
/// the test's thread waits for the binary; stopped when dropped.
pub struct Served {
    running: Option<epicor_kinetic_emulator::RunningEmulator>,
    /// Its start-up line.
    pub info: serde_json::Value,
    /// The runtime serving it (tests may run connector calls on it too).
    pub rt: tokio::runtime::Runtime,
}

impl Served {
    /// Starts an emulator with `config`.
    pub fn start(config: epicor_kinetic_emulator::EmulatorConfig) -> Served {
        let rt = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .enable_all()
            .build()
            .unwrap();
        let running = rt
            .block_on(epicor_kinetic_emulator::spawn(config, "127.0.0.1:0"))
            .unwrap_or_else(|e| panic!("emulator: {e}"));
        let info = running.startup_info();
        Served {
            running: Some(running),
            info,
            rt,
        }
    }

    /// The requests it served (its configuration's `request_log` last ones), oldest first.
    pub fn requests(&self) -> Vec<epicor_kinetic_emulator::LoggedRequest> {
        self.running
            .as_ref()
            .map(|r| r.requests())
            .unwrap_or_default()
    }

    /// The emulator's SQLite database (to ask it the questions the binary answered).
    pub fn db_path(&self) -> std::path::PathBuf {
        self.running
            .as_ref()
            .expect("running")
            .report()
            .path
            .clone()
    }

    /// The emulator's SQLite database, opened with the collation its text columns declare.
    pub fn db(&self) -> rusqlite::Connection {
        let db = rusqlite::Connection::open(self.db_path()).expect("the emulator's database");
        epicor_kinetic_emulator::collation::register(&db).expect("the emulator's collation");
        db
    }

    /// A ready connection string from the start-up line (`basic`, `basic_v2`, ...).
    pub fn cs(&self, name: &str) -> String {
        self.info["connection_strings"][name]
            .as_str()
            .unwrap_or_else(|| panic!("no connection string {name}: {}", self.info))
            .to_owned()
    }
}

impl Drop for Served {
    fn drop(&mut self) {
        if let Some(r) = self.running.take() {
            self.rt.block_on(r.shutdown());
        }
    }
}

/// A person's browser: follows the emulator's sign-in pages, keeping its cookie.
pub struct Browser {
    client: reqwest::Client,
    cookie: Option<String>,
    /// The CSRF token of the last page shown, sent with every form (as the page's form would).
    csrf: Option<String>,
}

impl Browser {
    /// A browser that trusts the emulator's CA (the PEM file `ca`), for an emulator on https.
    pub fn new(ca: &str) -> Browser {
        let pem = std::fs::read(ca).unwrap();
        let client = reqwest::Client::builder()
            .add_root_certificate(reqwest::Certificate::from_pem(&pem).unwrap())
            .redirect(reqwest::redirect::Policy::none())
            .build()
            .unwrap();
        Browser {
            client,
            cookie: None,
            csrf: None,
        }
    }

    /// A browser for an emulator on plain http.
    pub fn plain() -> Browser {
        let client = reqwest::Client::builder()
            .redirect(reqwest::redirect::Policy::none())
            .no_proxy()
            .build()
            .unwrap();
        Browser {
            client,
            cookie: None,
            csrf: None,
        }
    }

    pub async fn go(
        &mut self,
        url: &str,
        form: Option<&[(&str, &str)]>,
    ) -> (u16, String, Option<String>) {
        let csrf = self.csrf.clone().unwrap_or_default();
        let form: Option<Vec<(&str, &str)>> = form.map(|f| {
            let mut f = f.to_vec();
            if !f.iter().any(|(k, _)| *k == "csrf") {
                f.push(("csrf", csrf.as_str()));
            }
            f
        });
        let mut req = match form {
            Some(f) => {
                let body: Vec<String> = f
                    .iter()
                    .map(|(k, v)| {
                        format!(
                            "{k}={}",
                            v.replace('%', "%25")
                                .replace('&', "%26")
                                .replace('+', "%2B")
                                .replace('=', "%3D")
                        )
                    })
                    .collect();
                self.client
                    .post(url)
                    .header("content-type", "application/x-www-form-urlencoded")
                    .body(body.join("&"))
            }
            None => self.client.get(url),
        };
        if let Some(c) = &self.cookie {
            req = req.header("cookie", c);
        }
        let resp = req.send().await.unwrap();
        if let Some(sc) = resp.headers().get("set-cookie") {
            self.cookie = Some(sc.to_str().unwrap().split(';').next().unwrap().to_string());
        }
        let location = resp
            .headers()
            .get("location")
            .map(|l| l.to_str().unwrap().to_string());
        let status = resp.status().as_u16();
        let text = resp.text().await.unwrap();
        if text.contains("name=\"csrf\"") {
            self.csrf = Some(hidden(&text, "csrf"));
        }
        (status, text, location)
    }

    /// Fills the sign-in form on `page` as alice and posts it.
    pub async fn sign_in_as_alice(
        &mut self,
        url: &str,
        tenant: &str,
        page: &str,
    ) -> (u16, String, Option<String>) {
        let login = format!("{url}/{tenant}/oauth2/v2.0/login");
        let request = hidden(page, "request");
        self.go(
            &login,
            Some(&[
                ("request", &request),
                ("login", "alice@kinetic.example"),
                ("passwd", "Alice123!"),
            ]),
        )
        .await
    }
}

/// The value of the hidden form field `name` in `html`.
pub fn hidden(html: &str, name: &str) -> String {
    let marker = format!("name=\"{name}\" value=\"");
    let start = html
        .find(&marker)
        .unwrap_or_else(|| panic!("no {name} in {html}"))
        + marker.len();
    html[start..].split('"').next().unwrap().to_string()
}

/// Reads the child's stderr until a line satisfies `want`; returns that line.
pub fn wait_for_line(
    stderr: &mut BufReader<std::process::ChildStderr>,
    want: impl Fn(&str) -> bool,
) -> String {
    let mut seen = String::new();
    loop {
        let mut line = String::new();
        if stderr.read_line(&mut line).unwrap() == 0 {
            panic!("the child ended before printing what was expected; it printed:\n{seen}");
        }
        seen.push_str(&line);
        if want(&line) {
            return line;
        }
    }
}

/// The binary with `args`, the configuration directory `config`, no `KINETIC_*` or proxy
/// variable but those in `env`, no display (no browser is opened), and loopback kept off proxies.
pub fn kinetic_command(
    config: &std::path::Path,
    args: &[&str],
    env: &[(&str, &str)],
) -> std::process::Command {
    let mut cmd = std::process::Command::new(env!("CARGO_BIN_EXE_kinetic"));
    cmd.args(args);
    for (name, _) in std::env::vars_os() {
        let name = name.to_string_lossy();
        if name.starts_with("KINETIC_") || name.to_ascii_lowercase().ends_with("_proxy") {
            cmd.env_remove(name.as_ref());
        }
    }
    cmd.env("KINETIC_CONFIG_DIR", config)
        .env("NO_PROXY", "127.0.0.1,localhost")
        .env_remove("DISPLAY")
        .env_remove("WAYLAND_DISPLAY")
        .envs(env.iter().copied());
    cmd
}

/// Sets SIGINT, SIGTERM and SIGHUP to their default actions in the child, whatever this test
/// runner inherited: a runner started in the background of a script (as CI may start it) has
/// SIGINT ignored, and the binary keeps an ignored signal ignored, as `nohup` expects.
pub fn default_signals(c: &mut std::process::Command) {
    use std::os::unix::process::CommandExt;
    // SAFETY: signal(2) is async-signal-safe, as pre_exec requires.
    unsafe {
        c.pre_exec(|| {
            for s in [libc::SIGINT, libc::SIGTERM, libc::SIGHUP] {
                libc::signal(s, libc::SIG_DFL);
            }
            Ok(())
        });
    }
}

/// Waits until `served` has answered `pages` requests for paths ending in `suffix` while `child`
/// still runs (a minute at most), then sends it `signal` (`INT`, `TERM`, `HUP`): an export caught
/// in the middle, without a wall-clock guess.
pub fn signal_after_pages(
    served: &Served,
    child: &mut std::process::Child,
    suffix: &str,
    pages: usize,
    signal: &str,
) {
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(60);
    while served
        .requests()
        .iter()
        .filter(|r| r.path().ends_with(suffix))
        .count()
        < pages
    {
        assert!(child.try_wait().unwrap().is_none(), "still running");
        assert!(
            std::time::Instant::now() < deadline,
            "no pages served in 60 s"
        );
        std::thread::sleep(std::time::Duration::from_millis(10));
    }
    assert!(child.try_wait().unwrap().is_none(), "still running");
    assert!(std::process::Command::new("kill")
        .args([&format!("-{signal}"), &child.id().to_string()])
        .status()
        .unwrap()
        .success());
}

/// A finished command's standard output, after checking that it exited 0 (its exit code and both
/// outputs in the panic otherwise).
pub fn ok(out: &Output) -> String {
    assert!(
        out.status.success(),
        "exit {:?}\nstdout: {}\nstderr: {}",
        out.status.code(),
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout.clone()).unwrap()
}

/// Names in `dir` of the temporary files a write leaves when it fails to clean up.
pub fn partials(dir: &Path) -> Vec<String> {
    std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .filter(|n| n.contains("partial"))
        .collect()
}
