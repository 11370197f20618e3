//! The loopback listener of the desktop sign-in: where the browser's redirect brings the code
//! (RFC 8252 7.3). Binds `CallbackURL`'s loopback address (both 127.0.0.1 and ::1 for
//! `localhost`), answers one small page per request, checks `state` in constant time, and gives
//! up after five minutes.

use crate::clock::Clock;
use crate::http::Url;
use crate::{Error, Result, Secret};
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};
use std::sync::Arc;
use std::time::Duration;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};

/// How long the desktop sign-in waits for the browser's redirect.
const BROWSER_TIMEOUT: Duration = Duration::from_secs(5 * 60);

/// How long one connection to the loopback listener may take to send its request.
const CALLBACK_READ_TIMEOUT: Duration = Duration::from_secs(10);

/// The most bytes of one request the loopback listener reads.
const MAX_CALLBACK_REQUEST: usize = 16 * 1024;

/// Where the loopback listener binds and what redirect URI it answers to.
pub(crate) struct Loopback {
    pub(crate) ip: IpAddr,
    pub(crate) host: String,
    pub(crate) port: u16,
    pub(crate) path: String,
}

pub(crate) fn parse(callback_url: &str) -> Result<Loopback> {
    let bad = |message: String| {
        Error::invalid_settings(
            "CallbackURL",
            message,
            "set CallbackURL to a loopback address such as http://localhost:33333, or, for a web app, use the web procedures (GetOAuthAuthorizationURL, GetOAuthAccessToken) or OAuthVerifier",
        )
    };
    let url =
        Url::parse(callback_url).map_err(|e| bad(format!("CallbackURL is not a URL ({e})")))?;
    if url.scheme() != "http" {
        return Err(bad(
            "the desktop sign-in receives the code on a loopback http:// CallbackURL".into(),
        ));
    }
    let host = url.host_str().unwrap_or("").to_owned();
    let ip = match host.as_str() {
        "localhost" | "127.0.0.1" => IpAddr::V4(Ipv4Addr::LOCALHOST),
        "[::1]" | "::1" => IpAddr::V6(Ipv6Addr::LOCALHOST),
        other => {
            return Err(bad(format!(
                "CallbackURL's host {other} is not this machine's loopback address, so the connector cannot receive the code"
            )))
        }
    };
    let path = match url.path() {
        "/" => String::new(),
        p => p.to_owned(),
    };
    Ok(Loopback {
        ip,
        host,
        port: url.port().unwrap_or(80),
        path,
    })
}

/// The loopback listeners for the redirect, and the port they share (port 0 picks a free one: the
/// redirect names the one actually bound). `localhost` may resolve to ::1 first in the browser,
/// so it is listened for on both loopback addresses when this machine has IPv6 loopback.
pub(crate) async fn bind(lb: &Loopback) -> Result<(Vec<TcpListener>, u16)> {
    let listener = TcpListener::bind((lb.ip, lb.port)).await.map_err(|e| {
        Error::invalid_settings(
            "CallbackURL",
            format!("cannot listen on {}:{} for the sign-in redirect: {e}", lb.host, lb.port),
            "close the program using that port, or set CallbackURL to another port (http://localhost:{port}; Entra ID accepts any port for loopback redirects)",
        )
    })?;
    let port = listener.local_addr().map(|a| a.port()).unwrap_or(lb.port);
    let mut listeners = vec![listener];
    if lb.host.eq_ignore_ascii_case("localhost") {
        if let Ok(v6) = TcpListener::bind((Ipv6Addr::LOCALHOST, port)).await {
            listeners.push(v6);
        }
    }
    Ok((listeners, port))
}

/// What one connection to the loopback listener brought.
enum Callback {
    Code(Secret),
    /// Not the redirect (a favicon, a probe): answered and ignored.
    Ignored,
}

/// Accepts connections until the redirect arrives (or the time runs out).
pub(crate) async fn receive_code(
    listeners: &[TcpListener],
    path: &str,
    state: &Secret,
    clock: &Arc<dyn Clock>,
) -> Result<Secret> {
    let mut deadline = clock.sleep(BROWSER_TIMEOUT);
    loop {
        let accept_any =
            futures_util::future::select_all(listeners.iter().map(|l| Box::pin(l.accept())));
        let stream = tokio::select! {
            (accepted, _, _) = accept_any => match accepted {
                Ok((stream, _)) => stream,
                // A connection that failed before it was accepted: wait for the next.
                Err(_) => continue,
            },
            () = &mut deadline => {
                return Err(Error::Unauthorized {
                    status: None,
                    message: format!(
                        "no sign-in came back within {} minutes",
                        BROWSER_TIMEOUT.as_secs() / 60
                    ),
                    correlation_id: None,
                    error_type: None,
                })
            }
        };
        let read = clock.sleep(CALLBACK_READ_TIMEOUT);
        let handled = tokio::select! {
            handled = handle_callback(stream, path, state) => handled,
            () = read => continue,
        };
        match handled? {
            Callback::Code(code) => return Ok(code),
            Callback::Ignored => {}
        }
    }
}

fn page(title: &str, text: &str) -> String {
    let esc = |s: &str| {
        s.replace('&', "&amp;")
            .replace('<', "&lt;")
            .replace('>', "&gt;")
            .replace('"', "&quot;")
    };
    format!(
        "<!doctype html><html><head><meta charset=\"utf-8\"><title>{}</title></head>\
         <body style=\"font-family:sans-serif;margin:3em\"><h1>{}</h1><p>{}</p></body></html>",
        esc(title),
        esc(title),
        esc(text)
    )
}

async fn answer(stream: &mut TcpStream, status: &str, body: &str) {
    let head = format!(
        "HTTP/1.1 {status}\r\nContent-Type: text/html; charset=utf-8\r\nContent-Length: {}\r\n\
         Cache-Control: no-store\r\nConnection: close\r\n\r\n",
        body.len()
    );
    // The browser may already be gone; the outcome is the code, not this page.
    let _ = stream.write_all(head.as_bytes()).await;
    let _ = stream.write_all(body.as_bytes()).await;
    let _ = stream.shutdown().await;
}

/// Reads one request on the loopback listener and answers it.
async fn handle_callback(mut stream: TcpStream, path: &str, state: &Secret) -> Result<Callback> {
    let mut buf = Vec::with_capacity(1024);
    let mut chunk = [0u8; 2048];
    while !buf.windows(4).any(|w| w == b"\r\n\r\n") {
        match stream.read(&mut chunk).await {
            Ok(0) | Err(_) => return Ok(Callback::Ignored),
            Ok(n) => buf.extend_from_slice(&chunk[..n]),
        }
        if buf.len() > MAX_CALLBACK_REQUEST {
            answer(&mut stream, "431 Request Header Fields Too Large", "").await;
            return Ok(Callback::Ignored);
        }
    }
    let head = String::from_utf8_lossy(&buf);
    let mut parts = head.lines().next().unwrap_or("").split_whitespace();
    let (method, target) = (parts.next().unwrap_or(""), parts.next().unwrap_or(""));
    let Ok(url) = Url::parse(&format!("http://localhost{target}")) else {
        answer(&mut stream, "400 Bad Request", &page("Bad request", "")).await;
        return Ok(Callback::Ignored);
    };
    let wanted = if path.is_empty() { "/" } else { path };
    if method != "GET" || url.path() != wanted {
        answer(&mut stream, "404 Not Found", &page("Not found", "")).await;
        return Ok(Callback::Ignored);
    }
    let get = |k: &str| {
        url.query_pairs()
            .find(|(key, _)| key == k)
            .map(|(_, v)| v.into_owned())
    };
    let (code, error) = (get("code"), get("error"));
    if code.is_none() && error.is_none() {
        answer(
            &mut stream,
            "400 Bad Request",
            &page(
                "Waiting for sign-in",
                "This address receives the sign-in answer.",
            ),
        )
        .await;
        return Ok(Callback::Ignored);
    }
    // The CSRF guard: a redirect that does not carry this request's state was not caused by it.
    // Compared in constant time (`Secret`'s equality).
    if get("state").map(Secret::new).as_ref() != Some(state) {
        answer(
            &mut stream,
            "400 Bad Request",
            &page(
                "Sign-in refused",
                "The answer does not belong to the sign-in the application started. Start again from the application.",
            ),
        )
        .await;
        return Err(Error::Unauthorized {
            status: None,
            message: "the sign-in redirect's state does not match the request's (a forged or stale redirect was refused); sign in again".into(),
            correlation_id: None,
            error_type: None,
        });
    }
    if let Some(error) = error {
        let description = get("error_description").unwrap_or_default();
        answer(
            &mut stream,
            "200 OK",
            &page("Sign-in failed", &format!("{error}: {description}")),
        )
        .await;
        return Err(crate::oauth::code::redirect_error(&error, description));
    }
    answer(
        &mut stream,
        "200 OK",
        &page(
            "Signed in",
            "You are signed in. You can close this window and return to the application.",
        ),
    )
    .await;
    Ok(code.map_or(Callback::Ignored, |c| Callback::Code(Secret::new(c))))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn loopback_callbacks_are_parsed_and_others_refused() {
        let l = parse("http://localhost:33333").unwrap();
        assert_eq!(
            (l.host.as_str(), l.port, l.path.as_str()),
            ("localhost", 33333, "")
        );
        let l = parse("http://127.0.0.1:0/cb").unwrap();
        assert_eq!((l.port, l.path.as_str()), (0, "/cb"));
        for bad in ["https://localhost:1", "http://example.com:1", "not a url"] {
            assert_eq!(
                parse(bad)
                    .err()
                    .and_then(|e| e.property().map(str::to_owned))
                    .as_deref(),
                Some("CallbackURL"),
                "{bad}"
            );
        }
    }

    /// A `localhost` redirect reaches the listener whichever loopback address the browser's
    /// resolver gives first.
    #[tokio::test]
    async fn localhost_is_listened_for_on_both_loopback_addresses() {
        let (listeners, port) = bind(&parse("http://localhost:0").unwrap()).await.unwrap();
        assert_ne!(port, 0);
        tokio::net::TcpStream::connect(("127.0.0.1", port))
            .await
            .unwrap();
        if std::net::TcpListener::bind("[::1]:0").is_ok() {
            assert_eq!(listeners.len(), 2, "IPv6 loopback exists here");
            tokio::net::TcpStream::connect(("::1", port)).await.unwrap();
        }
        let (only_v4, _) = bind(&parse("http://127.0.0.1:0").unwrap()).await.unwrap();
        assert_eq!(only_v4.len(), 1, "an explicit address is listened on alone");
    }

    #[test]
    fn pages_escape_what_the_redirect_said() {
        let p = page("Sign-in failed", "<script>x</script>");
        assert!(!p.contains("<script>"));
    }
}
