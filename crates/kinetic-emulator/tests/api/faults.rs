//! Fault injection (`faults` in the config, `--faults` on the command line): each kind's answer, rates,
//! path scoping, seeded reproducibility, no write behind a refused call, and connections cut short
//! on a real socket.

use super::*;
use epicor_kinetic_emulator::faults::parse_spec;
use serde_json::json;
use std::time::{Duration, Instant};
use tokio::io::{AsyncReadExt, AsyncWriteExt};

const V1_CUSTOMER_1: &str = "api/v1/Erp.BO.CustomerSvc/Customers('EPIC06',1)";
const V2_CUSTOMER_1: &str = "api/v2/odata/EPIC06/Erp.BO.CustomerSvc/Customers('EPIC06',1)";

/// A small emulator with the faults of `spec`.
fn with_faults(spec: &str) -> Router {
    let faults = parse_spec(spec).unwrap_or_else(|e| panic!("`{spec}`: {e}"));
    fresh(|c| {
        c.scale = 150;
        c.faults = faults;
    })
}

/// Statuses of `n` GETs of `uri`, in order. `uri` may be a path the emulator does not serve: its 404
/// costs nothing, and faults are rolled before the router looks at the path.
async fn statuses(r: &Router, uri: &str, n: usize) -> Vec<u16> {
    let mut out = Vec::with_capacity(n);
    for _ in 0..n {
        out.push(get(r, uri).await.status.as_u16());
    }
    out
}

#[tokio::test]
async fn each_status_kind_answers_in_epicors_error_shape() {
    // One emulator, one kind per path, each certain to fire.
    let r = with_faults(
        "429:1:retry=2@/t/a,503:1@/t/b,502:1@/t/c,504:1@/t/d,429:1@/t/e,503:1:retry=30@/t/f",
    );
    let cases = [
        ("t/a", StatusCode::TOO_MANY_REQUESTS, Some("2")),
        ("t/b", StatusCode::SERVICE_UNAVAILABLE, Some("1")),
        ("t/c", StatusCode::BAD_GATEWAY, None),
        ("t/d", StatusCode::GATEWAY_TIMEOUT, None),
        ("t/e", StatusCode::TOO_MANY_REQUESTS, Some("1")),
        ("t/f", StatusCode::SERVICE_UNAVAILABLE, Some("30")),
    ];
    for (path, status, retry_after) in cases {
        let reply = get(&r, path).await;
        assert_eq!(
            reply
                .headers
                .get("retry-after")
                .map(|v| v.to_str().unwrap()),
            retry_after,
            "{path}"
        );
        assert!(
            reply.headers["content-type"]
                .to_str()
                .unwrap()
                .starts_with("application/json"),
            "{path}"
        );
        let body = reply.expect_error(status, "a fault injected by the emulator");
        assert_eq!(body["ErrorType"], "System.Exception");
        assert_eq!(body["ErrorDetails"], json!([]));
        let msg = body["ErrorMessage"].as_str().unwrap();
        assert!(msg.contains(&status.as_u16().to_string()), "{msg}");
        assert!(
            msg.contains(status.canonical_reason().unwrap()),
            "names the status: {msg}"
        );
    }
    // Outside every rule's path, calls are served as usual.
    get(&r, V1_CUSTOMER_1).await.expect(StatusCode::OK);
}

#[tokio::test]
async fn latency_delays_the_call_then_serves_it() {
    let r = with_faults("latency:1:150-150ms@/api/v1/");
    get(&r, V1_CUSTOMER_1).await; // credentials checked and cached: not timed below
    let start = Instant::now();
    let row = get(&r, V1_CUSTOMER_1).await.expect(StatusCode::OK).json();
    assert!(
        start.elapsed() >= Duration::from_millis(150),
        "{:?}",
        start.elapsed()
    );
    assert_eq!(row["CustNum"], 1);
    // A range: each delay falls inside it.
    let r = with_faults("latency:1:20-60ms");
    for _ in 0..5 {
        let start = Instant::now();
        get(&r, "nothing-here").await.expect(StatusCode::NOT_FOUND);
        assert!(
            start.elapsed() >= Duration::from_millis(20),
            "{:?}",
            start.elapsed()
        );
    }
}

#[tokio::test]
async fn latency_lets_later_rules_fire_and_the_first_fault_decides() {
    let r = with_faults("latency:1:100ms,502:1,503:1");
    let start = Instant::now();
    get(&r, "x")
        .await
        .expect_error(StatusCode::BAD_GATEWAY, "injected");
    assert!(
        start.elapsed() >= Duration::from_millis(100),
        "{:?}",
        start.elapsed()
    );
}

#[tokio::test]
async fn rates_are_honoured() {
    let r = with_faults("503:0.3,seed=11");
    let got = statuses(&r, "nothing-here", 400).await;
    let faults = got.iter().filter(|&&s| s == 503).count();
    assert!((80..=160).contains(&faults), "{faults} of 400 at rate 0.3");
    assert!(got.iter().all(|&s| s == 503 || s == 404), "{got:?}");

    // Two rules: the second only sees what the first let through (0.5 of the 0.8 left = 0.4).
    let r = with_faults("429:0.2,504:0.5,seed=3");
    let got = statuses(&r, "nothing-here", 400).await;
    let count = |s: u16| got.iter().filter(|&&x| x == s).count();
    assert!(
        (50..=110).contains(&count(429)),
        "{} 429s of 400",
        count(429)
    );
    assert!(
        (120..=200).contains(&count(504)),
        "{} 504s of 400",
        count(504)
    );

    // Rates 0 and 1 are exact.
    let r = with_faults("502:0,close:0,504:1");
    assert!(statuses(&r, "x", 50).await.iter().all(|&s| s == 504));
}

#[tokio::test]
async fn a_path_scoped_rule_only_hits_its_paths() {
    let r = with_faults("503:1@/api/v2/,429:0.5@/api/v1/Erp.BO.PartSvc/");
    for _ in 0..20 {
        get(&r, V1_CUSTOMER_1).await.expect(StatusCode::OK);
        get(&r, V2_CUSTOMER_1)
            .await
            .expect_error(StatusCode::SERVICE_UNAVAILABLE, "injected");
    }
    let parts = statuses(&r, "api/v1/Erp.BO.PartSvc/Parts", 100).await;
    let hits = parts.iter().filter(|&&s| s == 429).count();
    assert!((25..=75).contains(&hits), "{hits} of 100 at rate 0.5");
    assert!(parts.iter().all(|&s| s == 429 || s == 200), "{parts:?}");
}

#[tokio::test]
async fn the_same_seed_reproduces_the_same_faults() {
    let spec = "503:0.2,429:0.2,502:0.25,latency:0.3:0-2ms,seed=7";
    let first = statuses(&with_faults(spec), "nothing-here", 80).await;
    let again = statuses(&with_faults(spec), "nothing-here", 80).await;
    assert_eq!(first, again);
    for s in [503, 429, 502, 404] {
        assert!(first.contains(&s), "{s} missing from {first:?}");
    }
    let other = statuses(
        &with_faults(&spec.replace("seed=7", "seed=8")),
        "nothing-here",
        80,
    )
    .await;
    assert_ne!(first, other, "another seed, other faults");
}

#[tokio::test]
async fn a_refused_write_is_not_performed() {
    let r = with_faults("503:1@/api/v2/");
    let before = get(&r, V1_CUSTOMER_1).await.expect(StatusCode::OK).json();
    for method in [Method::PATCH, Method::DELETE] {
        send(
            &r,
            method,
            V2_CUSTOMER_1,
            &[],
            Some(json!({"City": "Faulted"})),
        )
        .await
        .expect_error(StatusCode::SERVICE_UNAVAILABLE, "not processed");
    }
    let after = get(&r, V1_CUSTOMER_1).await.expect(StatusCode::OK).json();
    assert_eq!(
        before, after,
        "neither the PATCH nor the DELETE took effect"
    );

    // The same PATCH through v1, which the rule does not cover, does write.
    send(
        &r,
        Method::PATCH,
        V1_CUSTOMER_1,
        &[],
        Some(json!({"City": "Served"})),
    )
    .await
    .expect(StatusCode::NO_CONTENT);
    let row = get(&r, V1_CUSTOMER_1).await.expect(StatusCode::OK).json();
    assert_eq!(row["City"], "Served");
}

#[tokio::test]
async fn close_in_process_is_a_body_that_fails() {
    let r = with_faults("close:1@/api/v1/");
    let req = Request::builder()
        .uri(format!("/Kinetic/{V1_CUSTOMER_1}"))
        .header("authorization", BASIC_MANAGER)
        .header("x-api-key", API_KEY)
        .body(Body::empty())
        .unwrap();
    let resp = r.clone().oneshot(req).await.unwrap();
    assert_eq!(resp.status(), StatusCode::OK);
    let promised: usize = resp.headers()["content-length"]
        .to_str()
        .unwrap()
        .parse()
        .unwrap();
    assert!(
        promised > 100,
        "the whole row's length is promised: {promised}"
    );
    let err = resp.into_body().collect().await.unwrap_err();
    assert!(
        format!("{err:?}").contains("fault rule close"),
        "the error says why: {err:?}"
    );

    // A HEAD answer has no body to cut: the connection is closed after it instead.
    let req = Request::builder()
        .method(Method::HEAD)
        .uri(format!("/Kinetic/{V1_CUSTOMER_1}"))
        .header("authorization", BASIC_MANAGER)
        .body(Body::empty())
        .unwrap();
    let resp = r.clone().oneshot(req).await.unwrap();
    assert_eq!(resp.headers()["connection"], "close");
    resp.into_body().collect().await.unwrap();
}

/// A response read off a raw socket until the server closed it.
#[derive(Debug)]
struct Wire {
    /// Status line and headers, when they arrived whole.
    head: Option<String>,
    /// Body bytes after the head.
    body: Vec<u8>,
    /// How the read ended when it was not a clean end of stream (e.g. connection reset).
    error: Option<std::io::ErrorKind>,
}

impl Wire {
    fn content_length(&self) -> Option<usize> {
        self.head.as_deref()?.lines().find_map(|l| {
            let (k, v) = l.split_once(':')?;
            k.eq_ignore_ascii_case("content-length")
                .then(|| v.trim().parse().ok())?
        })
    }

    /// The response did not arrive whole: no head, fewer body bytes than promised, or a reset.
    fn cut_short(&self) -> bool {
        self.error.is_some()
            || self.head.is_none()
            || self.content_length().is_some_and(|n| self.body.len() < n)
    }
}

/// One HTTP/1.1 request as the demo user with the demo API key, read until the server closes.
async fn over_socket(addr: std::net::SocketAddr, method: &str, uri: &str, body: &str) -> Wire {
    let mut stream = tokio::net::TcpStream::connect(addr).await.unwrap();
    let request = format!(
        "{method} /Kinetic/{uri} HTTP/1.1\r\nHost: {addr}\r\nAuthorization: {BASIC_MANAGER}\r\n\
         x-api-key: {API_KEY}\r\nContent-Type: application/json\r\nContent-Length: {}\r\n\
         Connection: close\r\n\r\n{body}",
        body.len()
    );
    stream.write_all(request.as_bytes()).await.unwrap();
    let mut bytes = Vec::new();
    let mut chunk = [0u8; 8192];
    let mut error = None;
    let read_all = async {
        loop {
            match stream.read(&mut chunk).await {
                Ok(0) => break,
                Ok(n) => bytes.extend_from_slice(&chunk[..n]),
                Err(e) => {
                    error = Some(e.kind());
                    break;
                }
            }
        }
    };
    tokio::time::timeout(Duration::from_secs(20), read_all)
        .await
        .expect("the server closes the connection");
    let split = bytes.windows(4).position(|w| w == b"\r\n\r\n");
    Wire {
        head: split.map(|at| String::from_utf8_lossy(&bytes[..at]).into_owned()),
        body: split.map_or_else(Vec::new, |at| bytes[at + 4..].to_vec()),
        error,
    }
}

#[tokio::test]
async fn close_cuts_the_connection_mid_response() {
    let config = EmulatorConfig {
        scale: 150,
        faults: parse_spec("close:1@/api/v2/").unwrap(),
        ..EmulatorConfig::default()
    };
    let running = epicor_kinetic_emulator::spawn(config, "127.0.0.1:0")
        .await
        .unwrap();
    let addr = running.addr;

    // A read: the head arrives, promising a body that never does.
    let read = over_socket(addr, "GET", V2_CUSTOMER_1, "").await;
    assert!(read.cut_short(), "{read:?}");
    let head = read
        .head
        .as_deref()
        .expect("the head is sent before the cut");
    assert!(head.starts_with("HTTP/1.1 200"), "{head}");
    let promised = read.content_length().expect("a Content-Length");
    assert!(promised > 100 && read.body.len() < promised, "{read:?}");
    assert_eq!(
        read.body.len(),
        promised / 2,
        "half the body arrives before the cut: {read:?}"
    );

    // Out of the rule's path, the same row arrives whole.
    let whole = over_socket(addr, "GET", V1_CUSTOMER_1, "").await;
    assert!(!whole.cut_short(), "{whole:?}");
    assert_eq!(Some(whole.body.len()), whole.content_length());
    let row: serde_json::Value = serde_json::from_slice(&whole.body).unwrap();
    assert_eq!(row["CustNum"], 1);

    // A write: its 204 never arrives whole, yet the write was done. That ambiguity is the fault.
    let write = over_socket(addr, "PATCH", V2_CUSTOMER_1, r#"{"City":"Closed"}"#).await;
    assert!(write.cut_short(), "{write:?}");
    assert!(
        !write
            .head
            .as_deref()
            .unwrap_or("")
            .starts_with("HTTP/1.1 204"),
        "no complete 204: {write:?}"
    );
    let after = over_socket(addr, "GET", V1_CUSTOMER_1, "").await;
    let row: serde_json::Value = serde_json::from_slice(&after.body).unwrap();
    assert_eq!(row["City"], "Closed", "the handler ran before the cut");
    running.shutdown().await;
}
