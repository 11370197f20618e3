//! A person's browser on the emulator's identity provider pages, for the end-to-end tests of the
//! sign-in flows (not every test binary uses every helper).
#![allow(dead_code)]

use epicor_kinetic_emulator::config::seed;

pub fn form(pairs: &[(&str, &str)]) -> String {
    pairs
        .iter()
        .map(|(k, v)| {
            format!(
                "{k}={}",
                percent_encoding::utf8_percent_encode(v, percent_encoding::NON_ALPHANUMERIC)
            )
        })
        .collect::<Vec<_>>()
        .join("&")
}

pub fn hidden(html: &str, name: &str) -> String {
    let marker = format!("name=\"{name}\" value=\"");
    let start = html
        .find(&marker)
        .unwrap_or_else(|| panic!("no {name} field in {html}"))
        + marker.len();
    html[start..].split('"').next().unwrap().to_string()
}

pub fn no_redirects() -> reqwest::Client {
    reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap()
}

/// A person's browser on the emulator's pages: keeps the cookie, and posts each form with the
/// CSRF token of the page it came from.
pub struct Browser {
    http: reqwest::Client,
    cookie: Option<String>,
    csrf: String,
}

impl Browser {
    pub fn new() -> Browser {
        Browser {
            http: no_redirects(),
            cookie: None,
            csrf: String::new(),
        }
    }

    pub async fn send(&mut self, req: reqwest::RequestBuilder) -> (u16, String, Option<String>) {
        let req = match &self.cookie {
            Some(c) => req.header("cookie", c),
            None => req,
        };
        let r = req.send().await.unwrap();
        if let Some(sc) = r.headers().get("set-cookie") {
            self.cookie = Some(sc.to_str().unwrap().split(';').next().unwrap().to_string());
        }
        let location = r
            .headers()
            .get("location")
            .map(|l| l.to_str().unwrap().to_string());
        let status = r.status().as_u16();
        let text = r.text().await.unwrap();
        if text.contains("name=\"csrf\"") {
            self.csrf = hidden(&text, "csrf");
        }
        (status, text, location)
    }

    pub async fn get(&mut self, url: &str) -> (u16, String, Option<String>) {
        let req = self.http.get(url);
        self.send(req).await
    }

    /// Fills the sign-in form of `page` as alice and posts it to `login`.
    pub async fn sign_in_as_alice(
        &mut self,
        login: &str,
        page: &str,
    ) -> (u16, String, Option<String>) {
        self.sign_in_as(login, page, seed::ALICE, "Alice123!").await
    }

    /// Fills the sign-in form of `page` as `upn` and posts it to `login`.
    pub async fn sign_in_as(
        &mut self,
        login: &str,
        page: &str,
        upn: &str,
        password: &str,
    ) -> (u16, String, Option<String>) {
        let request = hidden(page, "request");
        self.post(
            login,
            &[("request", &request), ("login", upn), ("passwd", password)],
        )
        .await
    }

    pub async fn post(
        &mut self,
        url: &str,
        fields: &[(&str, &str)],
    ) -> (u16, String, Option<String>) {
        let csrf = self.csrf.clone();
        let mut all = fields.to_vec();
        all.push(("csrf", &csrf));
        let req = self
            .http
            .post(url)
            .header("content-type", "application/x-www-form-urlencoded")
            .body(form(&all));
        self.send(req).await
    }
}

/// Follows an authorization URL: signs in as alice (who has consented for the desktop app) and
/// returns where the identity provider redirects to.
pub async fn sign_in(authorize: &str) -> String {
    let mut b = Browser::new();
    let (_, page, _) = b.get(authorize).await;
    let login = format!("{}/login", authorize.split("/authorize").next().unwrap());
    let (status, text, location) = b.sign_in_as_alice(&login, &page).await;
    assert_eq!(status, 302, "{text}");
    location.unwrap()
}
