//! What the end-to-end test binaries share: a person's browser on the emulator's sign-in pages,
//! and reading a child's output line by line.

// Each test binary uses a part of this module.
#![allow(dead_code)]

use std::io::{BufRead, BufReader};

/// A person's browser: follows the emulator's sign-in pages, keeping its cookie.
pub struct Browser {
    client: reqwest::Client,
    cookie: Option<String>,
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
        }
    }

    pub async fn go(
        &mut self,
        url: &str,
        form: Option<&[(&str, &str)]>,
    ) -> (u16, String, Option<String>) {
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
        (resp.status().as_u16(), resp.text().await.unwrap(), location)
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
