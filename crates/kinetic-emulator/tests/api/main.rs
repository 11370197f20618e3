//! End-to-end tests of the emulator's REST API, in process: requests go straight into the router
//! (tower `oneshot`), except where a real socket matters.

mod agreement;
mod attack;
mod auth;
mod baq_efx;
mod collation;
mod company_limits;
mod entities;
mod faults;
mod hostile;
mod idp;
mod methods;
mod paging;
mod realism;
mod tls;
mod writes;

use axum::body::Body;
use axum::http::{HeaderMap, Method, Request, StatusCode};
use axum::Router;
use epicor_kinetic_emulator::{Emulator, EmulatorConfig};
use http_body_util::BodyExt;
use serde_json::Value;
use std::sync::OnceLock;
use tower::ServiceExt;

/// Order lines in the shared read-only emulator.
pub const SCALE: u64 = 2_000;

/// A fresh emulator (own temporary database) with `tweak` applied to the default configuration.
pub fn fresh(tweak: impl FnOnce(&mut EmulatorConfig)) -> Router {
    let mut config = EmulatorConfig {
        scale: SCALE,
        ..EmulatorConfig::default()
    };
    tweak(&mut config);
    Emulator::new(config).expect("emulator starts").router()
}

/// One emulator shared by the tests that only read.
pub fn shared() -> Router {
    static ROUTER: OnceLock<Router> = OnceLock::new();
    ROUTER.get_or_init(|| fresh(|_| {})).clone()
}

/// A response: status, headers, body text, and the body as JSON when it is JSON.
pub struct Reply {
    pub status: StatusCode,
    pub headers: HeaderMap,
    pub text: String,
}

impl Reply {
    pub fn json(&self) -> Value {
        serde_json::from_str(&self.text).unwrap_or_else(|e| panic!("not JSON ({e}): {}", self.text))
    }
    /// `value` of an OData collection.
    pub fn rows(&self) -> Vec<Value> {
        self.json()["value"]
            .as_array()
            .unwrap_or_else(|| panic!("no value array: {}", self.text))
            .clone()
    }
    #[track_caller]
    pub fn expect(self, status: StatusCode) -> Self {
        assert_eq!(self.status, status, "body: {}", self.text);
        self
    }
    /// Asserts an Epicor error body with this status and a message containing `needle`.
    #[track_caller]
    pub fn expect_error(self, status: StatusCode, needle: &str) -> Value {
        assert_eq!(self.status, status, "body: {}", self.text);
        let j = self.json();
        assert_eq!(j["HttpStatus"], status.as_u16(), "{j}");
        for field in ["ReasonPhrase", "ErrorMessage", "ErrorType", "CorrelationId"] {
            assert!(j[field].is_string(), "missing {field}: {j}");
        }
        assert!(j["ErrorDetails"].is_array(), "{j}");
        let msg = j["ErrorMessage"].as_str().unwrap();
        assert!(msg.contains(needle), "expected `{needle}` in `{msg}`");
        j
    }
}

/// An `Authorization` value with Basic credentials.
pub fn basic(user: &str, password: &str) -> String {
    use base64::Engine;
    format!(
        "Basic {}",
        base64::engine::general_purpose::STANDARD.encode(format!("{user}:{password}"))
    )
}

/// The demo user's Basic credentials and the demo API key, sent by [`send`] unless overridden.
pub const BASIC_MANAGER: &str = "Basic bWFuYWdlcjpFcGljb3IxMjMh";
pub const API_KEY: &str = epicor_kinetic_emulator::config::DEFAULT_API_KEY;

/// Sends a request as the demo user with the demo API key; `headers` add to or override those
/// (an empty value removes the header). `uri` is relative to the instance (`api/v1/...`).
pub async fn send(
    router: &Router,
    method: Method,
    uri: &str,
    headers: &[(&str, &str)],
    body: Option<Value>,
) -> Reply {
    let mut all: Vec<(&str, &str)> = vec![("authorization", BASIC_MANAGER), ("x-api-key", API_KEY)];
    for (k, v) in headers {
        all.retain(|(name, _)| !name.eq_ignore_ascii_case(k));
        all.push((k, v));
    }
    all.retain(|(_, v)| !v.is_empty());
    raw(router, method, uri, &all, body).await
}

/// Sends a request with exactly these headers.
pub async fn raw(
    router: &Router,
    method: Method,
    uri: &str,
    headers: &[(&str, &str)],
    body: Option<Value>,
) -> Reply {
    let mut req = Request::builder()
        .method(method)
        .uri(format!("/Kinetic/{uri}"))
        .header("host", "emulator.test");
    for (k, v) in headers {
        req = req.header(*k, *v);
    }
    let body = match body {
        Some(v) => {
            req = req.header("content-type", "application/json");
            Body::from(serde_json::to_vec(&v).unwrap())
        }
        None => Body::empty(),
    };
    exchange(router, req.body(body).unwrap()).await
}

/// Sends a built request into the router and reads the whole answer.
pub async fn exchange(router: &Router, req: Request<Body>) -> Reply {
    let resp = router.clone().oneshot(req).await.unwrap();
    let status = resp.status();
    let headers = resp.headers().clone();
    let bytes = resp.into_body().collect().await.unwrap().to_bytes();
    Reply {
        status,
        headers,
        text: String::from_utf8_lossy(&bytes).into_owned(),
    }
}

pub async fn get(router: &Router, uri: &str) -> Reply {
    send(router, Method::GET, uri, &[], None).await
}

pub async fn post(router: &Router, uri: &str, body: Value) -> Reply {
    send(router, Method::POST, uri, &[], Some(body)).await
}

/// Percent-encodes a query option value (spaces as %20, quotes kept readable).
pub fn enc(s: &str) -> String {
    percent_encoding::utf8_percent_encode(s, percent_encoding::NON_ALPHANUMERIC).to_string()
}

pub const V2: &str = "api/v2/odata/EPIC06";

/// The token service's JSON answer for the demo manager.
pub async fn epicor_token_answer(r: &Router) -> Value {
    raw(
        r,
        Method::POST,
        "TokenResource.svc/",
        &[
            ("username", "manager"),
            ("password", "Epicor123!"),
            ("accept", "application/json"),
        ],
        None,
    )
    .await
    .expect(StatusCode::OK)
    .json()
}
