//! Every error kind, produced end to end (against the emulator in process, or a server made here
//! to break the protocol) and matched by kind, as Python's exception classes and the CLI's exit
//! codes will match them. `ErrorKind::Internal` is a bug, which no server can cause.

use epicor_kinetic::http::Request;
use epicor_kinetic::{Connection, ErrorKind, OAuthErrorCode, Settings};
use epicor_kinetic_emulator::config::{ApiKeyConfig, ApiKeyScope};
use epicor_kinetic_emulator::{EmulatorConfig, RunningEmulator};
use serde_json::json;

const CUSTOMERS: &str = "Erp.BO.CustomerSvc";
const SCOPED_KEY: &str = "customers-only-key-000000000000000000";

async fn emulator() -> RunningEmulator {
    let mut config = EmulatorConfig {
        scale: 300,
        faults: epicor_kinetic_emulator::faults::parse_spec(
            "429:1:retry=1@/api/v1/Erp.BO.ThrottledSvc,502:1@/api/v1/Erp.BO.BrokenSvc",
        )
        .unwrap_or_else(|e| panic!("{e}")),
        ..Default::default()
    };
    config.api_keys.push(ApiKeyConfig {
        key: SCOPED_KEY.into(),
        name: "customers only".into(),
        expires: None,
        scope: Some(ApiKeyScope {
            services: vec![CUSTOMERS.into()],
            ..Default::default()
        }),
    });
    epicor_kinetic_emulator::spawn(config, "127.0.0.1:0")
        .await
        .unwrap_or_else(|e| panic!("emulator: {e}"))
}

fn cs(emu: &RunningEmulator, name: &str) -> String {
    let text = emu.startup_info()["connection_strings"][name]
        .as_str()
        .unwrap_or_else(|| panic!("no {name}"))
        .to_owned();
    format!("{text};OAuthSettingsLocation=memory://errors-{name}")
}

async fn open(text: &str) -> Connection {
    Connection::open(Settings::parse(text).unwrap_or_else(|e| panic!("{e}")))
        .await
        .unwrap_or_else(|e| panic!("{e}"))
}

async fn get(conn: &Connection, service: &str, set: &str) -> epicor_kinetic::Error {
    conn.get_by_key(service, set, &["EPIC06".into(), 3.into()])
        .await
        .expect_err("an error")
}

#[tokio::test]
async fn every_error_kind_end_to_end() {
    let emu = emulator().await;
    let basic = cs(&emu, "basic");

    // Settings: before any call.
    let e = Settings::parse(&basic.replace("Password=", "Pasword=")).unwrap_err();
    assert_eq!(e.kind(), ErrorKind::InvalidSettings, "{e}");

    // Credentials refused by Epicor.
    let wrong = basic.replace("Password=Epicor123!", "Password=wrong-one");
    let e = get(&open(&wrong).await, CUSTOMERS, "Customers").await;
    assert_eq!(e.kind(), ErrorKind::Unauthorized, "{e}");
    assert!(e.oauth().is_none());

    // The identity provider refuses the client: kind Unauthorized, with the OAuth code.
    let secret = cs(&emu, "azuread_client_secret");
    let bad_secret: String = secret
        .split(';')
        .map(|p| {
            if p.starts_with("OAuthClientSecret=") {
                "OAuthClientSecret=not-the-secret".to_owned()
            } else {
                p.to_owned()
            }
        })
        .collect::<Vec<_>>()
        .join(";");
    let e = get(&open(&bad_secret).await, CUSTOMERS, "Customers").await;
    assert_eq!(e.kind(), ErrorKind::Unauthorized, "{e}");
    assert_eq!(
        e.oauth().map(|o| &o.code),
        Some(&OAuthErrorCode::InvalidClient),
        "{e}"
    );

    // An API key scoped to one service: another service is forbidden.
    let v2 = cs(&emu, "basic_v2");
    let key = emu.startup_info()["api_key"].as_str().unwrap().to_owned();
    let scoped = v2.replace(&format!("ApiKey={key}"), &format!("ApiKey={SCOPED_KEY}"));
    let conn = open(&scoped).await;
    conn.get_by_key(CUSTOMERS, "Customers", &["EPIC06".into(), 3.into()])
        .await
        .unwrap_or_else(|e| panic!("in scope: {e}"));
    let e = get(&conn, "Erp.BO.PartSvc", "Parts").await;
    assert_eq!(e.kind(), ErrorKind::Forbidden, "{e}");

    // Not found.
    let conn = open(&basic).await;
    let e = conn
        .get_by_key(CUSTOMERS, "Customers", &["EPIC06".into(), 987_654.into()])
        .await
        .unwrap_err();
    assert_eq!(e.kind(), ErrorKind::NotFound, "{e}");

    // A business rule refuses the data.
    let e = conn
        .create(
            CUSTOMERS,
            "Customers",
            &json!({"Company": "EPIC06", "CustNum": 990_001, "CustID": "  ", "Name": "Blank"}),
        )
        .await
        .unwrap_err();
    assert_eq!(e.kind(), ErrorKind::Rejected, "{e}");
    assert_eq!(e.details()[0].field.as_deref(), Some("CustID"), "{e}");

    // A stale row: the tableset changed since it was read.
    let mut first = conn
        .get_by_id(CUSTOMERS, &json!({"custNum": 12}))
        .await
        .unwrap();
    let mut second = first.clone();
    first.set("Customer", 0, "City", json!("Duluth")).unwrap();
    conn.update_tableset(CUSTOMERS, &first).await.unwrap();
    second.set("Customer", 0, "City", json!("Ely")).unwrap();
    let e = conn.update_tableset(CUSTOMERS, &second).await.unwrap_err();
    assert_eq!(e.kind(), ErrorKind::Conflict, "{e}");

    // The Epicor session ended under the connection.
    let session = open(&cs(&emu, "basic_session")).await;
    let logout = session.pipeline().endpoints().session("Logout");
    session
        .pipeline()
        .send(Request::post(&logout).unwrap().json(&json!({})).unwrap())
        .await
        .unwrap();
    let e = get(&session, CUSTOMERS, "Customers").await;
    assert_eq!(e.kind(), ErrorKind::SessionExpired, "{e}");

    // Throttled and failing servers, once the retries are spent.
    let no_retry = open(&format!("{basic};MaxRetries=0")).await;
    let e = get(&no_retry, "Erp.BO.ThrottledSvc", "Things").await;
    assert_eq!(e.kind(), ErrorKind::Throttled, "{e}");
    assert!(
        matches!(
            e,
            epicor_kinetic::Error::Throttled {
                retry_after: Some(_),
                ..
            }
        ),
        "{e:?}"
    );
    let e = get(&no_retry, "Erp.BO.BrokenSvc", "Things").await;
    assert_eq!(e.kind(), ErrorKind::Server, "{e}");

    // No answer: a port bound for the test but never listened on.
    let reserved = tokio::net::TcpSocket::new_v4().unwrap();
    reserved.bind("127.0.0.1:0".parse().unwrap()).unwrap();
    let port = reserved.local_addr().unwrap().port();
    let refused = open(&format!(
        "URL=http://127.0.0.1:{port};ERPInstance=Kinetic;User=u;Password=p;MaxRetries=0"
    ))
    .await;
    let e = get(&refused, CUSTOMERS, "Customers").await;
    assert_eq!(e.kind(), ErrorKind::Transport, "{e}");

    // A server that breaks the protocol: a 200 whose body is not the JSON row.
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let port = listener.local_addr().unwrap().port();
    let app = axum::Router::new().fallback(|| async { "this is not JSON" });
    let server = tokio::spawn(async move { axum::serve(listener, app).await });
    let broken = open(&format!(
        "URL=http://127.0.0.1:{port};ERPInstance=Kinetic;AuthScheme=None"
    ))
    .await;
    let e = get(&broken, CUSTOMERS, "Customers").await;
    assert_eq!(e.kind(), ErrorKind::Protocol, "{e}");
    server.abort();

    // Errors are values: cloned for every waiter, the clone the same kind and text.
    let copy = e.clone();
    assert_eq!((copy.kind(), copy.to_string()), (e.kind(), e.to_string()));
}

/// A provider that takes the client secret only in an HTTP Basic header (RFC 6749 2.3.1) and says
/// so in its discovery document: the refused body secret is sent again in the header, and the
/// token comes. The header's `id:secret` is form-encoded first, so a secret with `:` survives.
#[tokio::test]
async fn a_client_secret_moves_to_the_basic_header_when_the_provider_wants_it() {
    use axum::http::{HeaderMap, StatusCode};
    use axum::routing::{get, post};
    use base64::Engine;
    use std::sync::atomic::{AtomicUsize, Ordering};
    use std::sync::Arc;

    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let base = format!("http://127.0.0.1:{}", listener.local_addr().unwrap().port());
    let posts = Arc::new(AtomicUsize::new(0));
    let doc = serde_json::json!({
        "issuer": base,
        "token_endpoint": format!("{base}/token"),
        "token_endpoint_auth_methods_supported": ["client_secret_basic"],
    });
    let counter = posts.clone();
    let app = axum::Router::new()
        .route(
            "/.well-known/openid-configuration",
            get(move || async move { axum::Json(doc) }),
        )
        .route(
            "/token",
            post(move |headers: HeaderMap, body: String| async move {
                counter.fetch_add(1, Ordering::SeqCst);
                let want = format!(
                    "Basic {}",
                    base64::engine::general_purpose::STANDARD.encode("the%20app:s%3Ac%C3%A9ret")
                );
                let header = headers.get("authorization").and_then(|v| v.to_str().ok());
                if header == Some(want.as_str()) && !body.contains("client_secret") {
                    (
                        StatusCode::OK,
                        r#"{"access_token":"from-basic","token_type":"Bearer","expires_in":3600}"#,
                    )
                } else {
                    (StatusCode::UNAUTHORIZED, r#"{"error":"invalid_client"}"#)
                }
            }),
        );
    let server = tokio::spawn(async move { axum::serve(listener, app).await });
    let conn = open(&format!(
        "URL={base};ERPInstance=Kinetic;AuthScheme=OAuth;OAuthIssuer={base};OAuthGrantType=CLIENT;\
         OAuthClientId=the app;OAuthClientSecret={{s:céret}};Scope=api://x/.default;\
         OAuthSettingsLocation=memory://basic-secret"
    ))
    .await;
    let token = conn.access_token().await.unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(token.expose(), "from-basic");
    assert_eq!(
        posts.load(Ordering::SeqCst),
        2,
        "the body secret refused, then the header"
    );
    server.abort();
}
