//! End-to-end tests of the HTTP pipeline against the emulator started in process, plus tiny
//! loopback servers for redirects and the proxy. Nothing leaves 127.0.0.1.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, SystemTime};

use epicor_kinetic::clock::{BoxFuture, Clock};
use epicor_kinetic::http::{
    sha256_hex, Authorization, Credential, HttpOptions, KeyValue, Pipeline, Request, RetryConfig,
};
use epicor_kinetic::{Client, Error, Secret, Settings};
use epicor_kinetic_emulator::{EmulatorConfig, RunningEmulator};
use serde_json::Value;
use tokio::io::{AsyncReadExt, AsyncWriteExt};

const USER: &str = "manager";
const PASSWORD: &str = "Epicor123!";

async fn emulator(config: EmulatorConfig) -> RunningEmulator {
    epicor_kinetic_emulator::spawn(config, "127.0.0.1:0")
        .await
        .unwrap_or_else(|e| panic!("emulator: {e}"))
}

fn small() -> EmulatorConfig {
    EmulatorConfig {
        scale: 200,
        ..Default::default()
    }
}

fn with_faults(spec: &str) -> EmulatorConfig {
    let mut config = small();
    config.faults =
        epicor_kinetic_emulator::faults::parse_spec(spec).unwrap_or_else(|e| panic!("{e}"));
    config
}

fn settings(text: &str) -> Settings {
    Settings::parse(text).unwrap_or_else(|e| panic!("{e}"))
}

/// `URL`, instance, Basic user and password of the emulator, then `extra`.
fn connection(emu: &RunningEmulator, extra: &str) -> Settings {
    settings(&format!(
        "URL={};ERPInstance=Kinetic;User={USER};Password={PASSWORD};Company=EPIC06;{extra}",
        emu.url()
    ))
}

/// A clock whose sleeps end at once and are recorded, so retry tests run fast and can check the
/// waits.
#[derive(Debug, Default)]
struct RecordingClock {
    sleeps: Mutex<Vec<Duration>>,
}

impl RecordingClock {
    fn sleeps(&self) -> Vec<Duration> {
        self.sleeps.lock().map(|s| s.clone()).unwrap_or_default()
    }
}

impl Clock for RecordingClock {
    fn now(&self) -> SystemTime {
        SystemTime::now()
    }

    fn sleep(&self, duration: Duration) -> BoxFuture<'static, ()> {
        if let Ok(mut s) = self.sleeps.lock() {
            s.push(duration);
        }
        Box::pin(std::future::ready(()))
    }
}

/// Basic from the settings' User and Password: every pipeline here signs in so.
fn basic(s: &Settings) -> Arc<dyn Credential> {
    Arc::new(epicor_kinetic::auth::providers::basic(s).unwrap_or_else(|e| panic!("{e}")))
}

/// The pipeline's options from the settings, as a `Client` makes them.
fn options(s: &Settings) -> HttpOptions {
    Client::http_options(s).unwrap_or_else(|e| panic!("{e}"))
}

fn pipeline_with_clock(s: &Settings, clock: &Arc<RecordingClock>) -> Pipeline {
    Pipeline::builder(options(s), basic(s))
        .clock(clock.clone())
        .build()
        .unwrap_or_else(|e| panic!("{e}"))
}

fn pipeline(s: &Settings) -> Pipeline {
    Pipeline::new(options(s), basic(s)).unwrap_or_else(|e| panic!("{e}"))
}

fn ok<T>(r: epicor_kinetic::Result<T>) -> T {
    r.unwrap_or_else(|e| panic!("{e}"))
}

fn customers(p: &Pipeline) -> Request {
    ok(p.endpoints()
        .service("Erp.BO.CustomerSvc")
        .map(|e| e.segment("Customers").query("$top", "2"))
        .and_then(|e| Request::get(&e)))
}

#[tokio::test]
async fn v1_and_v2_reads_with_basic_and_an_api_key() {
    let emu = emulator(small()).await;
    let v1 = pipeline(&connection(&emu, ""));
    let answer = ok(v1.send(customers(&v1)).await);
    assert_eq!(answer.status(), 200);
    assert_eq!(answer.attempts(), 1);
    assert!(!answer.request_id().is_empty());
    let body: Value = ok(answer.json());
    assert_eq!(body["value"].as_array().map(Vec::len), Some(2));
    assert!(body.get("odata.metadata").is_some(), "{body}");

    let key = epicor_kinetic_emulator::config::DEFAULT_API_KEY;
    let v2 = pipeline(&connection(&emu, &format!("ApiVersion=v2;ApiKey={key}")));
    let body: Value = ok(ok(v2.send(customers(&v2)).await).json());
    assert_eq!(body["value"].as_array().map(Vec::len), Some(2));
    assert!(body.get("@odata.context").is_some(), "{body}");

    // Without the key, v2 refuses: proof that the header above carried it.
    let no_key = pipeline(&connection(&emu, "ApiVersion=v2"));
    let err = no_key.send(customers(&no_key)).await.err();
    assert!(
        matches!(
            err,
            Some(Error::Unauthorized {
                status: Some(401),
                ..
            })
        ),
        "{err:?}"
    );
}

#[tokio::test]
async fn license_and_session_headers_reach_the_server() {
    let emu = emulator(small()).await;
    let p = pipeline(&connection(&emu, "LicenseType=WebService"));
    let answer = ok(p.send(customers(&p)).await);
    assert_eq!(
        answer
            .headers()
            .get("x-kinetic-license")
            .and_then(|v| v.to_str().ok()),
        Some("WebService")
    );

    let login =
        ok(Request::post(&p.endpoints().session("Login"))
            .and_then(|r| r.json(&serde_json::json!({}))));
    let body: Value = ok(ok(p.send(login).await).json());
    let session = body["returnObj"].as_str().unwrap_or_default().to_owned();
    assert!(!session.is_empty(), "{body}");
    p.set_session_id(Some(Secret::new(session.clone())));
    ok(p.send(customers(&p)).await);

    // A session the server does not know is Epicor's 410, typed.
    p.set_session_id(Some(Secret::new("00000000-dead-beef-0000-000000000000")));
    let err = p.send(customers(&p)).await.err();
    match err {
        Some(Error::SessionExpired {
            status: Some(410),
            message,
            correlation_id,
            error_type: _,
        }) => {
            assert!(message.contains("invalid or has been deleted"), "{message}");
            assert!(correlation_id.is_some());
        }
        other => panic!("{other:?}"),
    }

    // Logout ends the real session.
    p.set_session_id(Some(Secret::new(session)));
    let logout = ok(Request::post(&p.endpoints().session("Logout"))
        .and_then(|r| r.json(&serde_json::json!({}))));
    ok(p.send(logout).await);
    assert!(matches!(
        p.send(customers(&p)).await,
        Err(Error::SessionExpired { .. })
    ));
}

#[tokio::test]
async fn gateway_faults_are_retried_with_backoff_and_retry_after() {
    let emu = emulator(with_faults("503:0.3,429:0.2,502:0.2,504:0.2,seed=11")).await;
    let clock = Arc::new(RecordingClock::default());
    let p = pipeline_with_clock(&connection(&emu, "MaxRetries=20"), &clock);
    let mut attempts = 0;
    for _ in 0..20 {
        let answer = ok(p.send(customers(&p)).await);
        attempts += answer.attempts();
    }
    let sleeps = clock.sleeps();
    assert!(attempts > 20, "no fault was met in {attempts} attempts");
    assert_eq!(
        sleeps.len(),
        usize::try_from(attempts - 20).unwrap_or_default()
    );
    // 429 and 503 carry Retry-After: 1 (the emulator's default), a floor for the wait.
    assert!(
        sleeps.iter().any(|d| *d >= Duration::from_secs(1)),
        "{sleeps:?}"
    );
    // 502/504 have none: their waits are the jittered backoff's, under its cap.
    assert!(
        sleeps.iter().any(|d| *d < Duration::from_secs(1)),
        "{sleeps:?}"
    );
    assert!(
        sleeps.iter().all(|d| *d <= Duration::from_secs(10)),
        "{sleeps:?}"
    );
}

#[tokio::test]
async fn retries_run_out_into_typed_errors() {
    let emu = emulator(with_faults("503:1,seed=1")).await;
    let clock = Arc::new(RecordingClock::default());
    let p = pipeline_with_clock(&connection(&emu, "MaxRetries=2"), &clock);
    let err = p.send(customers(&p)).await.err();
    assert!(
        matches!(err, Some(Error::Throttled { status: Some(503), retry_after: Some(d), .. }) if d == Duration::from_secs(1)),
        "{err:?}"
    );
    assert_eq!(clock.sleeps().len(), 2);

    // A Retry-After longer than the pipeline waits for ends the retries at once.
    let emu = emulator(with_faults("429:1:retry=600,seed=1")).await;
    let clock = Arc::new(RecordingClock::default());
    let p = pipeline_with_clock(&connection(&emu, ""), &clock);
    let err = p.send(customers(&p)).await.err();
    assert!(
        matches!(err, Some(Error::Throttled { status: Some(429), retry_after: Some(d), .. }) if d == Duration::from_secs(600)),
        "{err:?}"
    );
    assert!(clock.sleeps().is_empty());
}

fn get_by_id(p: &Pipeline) -> Request {
    ok(
        Request::post(&p.endpoints().v1("Erp.BO.CustomerSvc").segment("GetByID"))
            .and_then(|r| r.json(&serde_json::json!({"custNum": 1}))),
    )
}

#[tokio::test]
async fn a_post_cut_off_mid_answer_is_not_repeated() {
    let emu = emulator(with_faults(
        "close:1@/api/v1/Erp.BO.CustomerSvc/GetByID,seed=1",
    ))
    .await;
    let clock = Arc::new(RecordingClock::default());
    let p = pipeline_with_clock(&connection(&emu, "MaxRetries=3"), &clock);
    match p.send(get_by_id(&p)).await {
        Err(Error::Transport { message, .. }) => {
            assert!(message.contains("not retried"), "{message}");
        }
        other => panic!("{other:?}"),
    }
    assert!(clock.sleeps().is_empty(), "a POST was retried");

    // The caller may declare a read-only method safe to repeat: then it is retried.
    let err = p.send(get_by_id(&p).idempotent(true)).await.err();
    assert!(matches!(err, Some(Error::Transport { .. })), "{err:?}");
    assert_eq!(clock.sleeps().len(), 3);
}

#[tokio::test]
async fn gets_survive_dropped_connections_and_posts_survive_unprocessed_refusals() {
    let emu = emulator(with_faults("close:0.5@/api/v1/Erp.BO.CustomerSvc/Customers,503:0.5@/api/v1/Erp.BO.CustomerSvc/GetByID,seed=3")).await;
    let clock = Arc::new(RecordingClock::default());
    let p = pipeline_with_clock(&connection(&emu, "MaxRetries=20"), &clock);
    let mut attempts = 0;
    for _ in 0..10 {
        attempts += ok(p.send(customers(&p)).await).attempts();
    }
    assert!(attempts > 10, "no connection was dropped");
    // 503 with Retry-After means the POST never ran: it is retried.
    let mut attempts = 0;
    for _ in 0..10 {
        let answer = ok(p.send(get_by_id(&p)).await);
        attempts += answer.attempts();
        let body: Value = ok(answer.json());
        assert!(body.get("returnObj").is_some(), "{body}");
    }
    assert!(attempts > 10, "no 503 was met");

    // A 502 may hide a call that ran: a POST is not retried.
    let emu = emulator(with_faults("502:1,seed=1")).await;
    let clock = Arc::new(RecordingClock::default());
    let p = pipeline_with_clock(&connection(&emu, "MaxRetries=3"), &clock);
    let err = p.send(get_by_id(&p)).await.err();
    assert!(
        matches!(
            err,
            Some(Error::Server {
                status: Some(502),
                ..
            })
        ),
        "{err:?}"
    );
    assert!(clock.sleeps().is_empty());
}

#[tokio::test]
async fn connection_refused_is_retried_for_any_method() {
    // A port bound for the whole test but never listened on: connections are refused, and no
    // other program can take the port meanwhile (as it could one bound and released).
    let reserved = tokio::net::TcpSocket::new_v4().unwrap_or_else(|e| panic!("{e}"));
    reserved
        .bind("127.0.0.1:0".parse().unwrap_or_else(|e| panic!("{e}")))
        .unwrap_or_else(|e| panic!("{e}"));
    let port = reserved.local_addr().map(|a| a.port()).unwrap_or_default();
    let clock = Arc::new(RecordingClock::default());
    let s = settings(&format!(
        "URL=http://127.0.0.1:{port};ERPInstance=Kinetic;User=u;Password=p;MaxRetries=2"
    ));
    let p = pipeline_with_clock(&s, &clock);
    let req = ok(Request::post(
        &p.endpoints().v1("Erp.BO.CustomerSvc").segment("GetByID"),
    ));
    match p.send(req).await {
        Err(Error::Transport { message, .. }) => {
            assert!(message.contains("cannot connect"), "{message}");
            assert!(message.contains("3 attempts"), "{message}");
        }
        other => panic!("{other:?}"),
    }
    assert_eq!(clock.sleeps().len(), 2);
}

/// A credential that counts how often it is asked and invalidated, and always claims it can
/// renew itself.
#[derive(Debug)]
struct Counting {
    password: String,
    asked: AtomicUsize,
    invalidated: AtomicUsize,
}

impl Credential for Counting {
    fn authorization(&self) -> BoxFuture<'_, epicor_kinetic::Result<Option<Authorization>>> {
        self.asked.fetch_add(1, Ordering::SeqCst);
        let header = Authorization::basic(USER, &Secret::new(self.password.clone()));
        Box::pin(async move { Ok(Some(header)) })
    }

    fn invalidate(&self, _rejected: &Authorization) -> bool {
        self.invalidated.fetch_add(1, Ordering::SeqCst);
        true
    }
}

#[tokio::test]
async fn a_401_renews_the_credential_once() {
    let emu = emulator(small()).await;
    let s = connection(&emu, "");
    let wrong = Arc::new(Counting {
        password: "wrong-password".into(),
        asked: AtomicUsize::new(0),
        invalidated: AtomicUsize::new(0),
    });
    let p = ok(Pipeline::builder(options(&s), wrong.clone()).build());
    let err = p.send(customers(&p)).await.err();
    match &err {
        Some(Error::Unauthorized {
            status: Some(401),
            message,
            ..
        }) => {
            assert!(!message.contains("wrong-password"), "{message}");
        }
        other => panic!("{other:?}"),
    }
    assert_eq!(wrong.asked.load(Ordering::SeqCst), 2);
    assert_eq!(wrong.invalidated.load(Ordering::SeqCst), 1);

    // Basic cannot renew: one attempt only (a wrong password is not sent twice).
    let basic = pipeline(&settings(&format!(
        "URL={};ERPInstance=Kinetic;User={USER};Password=nope",
        emu.url()
    )));
    assert!(matches!(
        basic.send(customers(&basic)).await,
        Err(Error::Unauthorized { .. })
    ));
}

#[tokio::test]
async fn error_answers_become_typed_errors() {
    let emu = emulator(small()).await;
    let p = pipeline(&connection(&emu, ""));

    let missing = ok(p
        .endpoints()
        .service("Erp.BO.CustomerSvc")
        .map(|e| {
            e.keyed(
                "Customers",
                &[KeyValue::from("EPIC06"), KeyValue::from(987_654)],
            )
        })
        .and_then(|e| Request::get(&e)));
    match p.send(missing).await {
        Err(e @ Error::NotFound { .. }) => {
            assert_eq!(e.status(), Some(404));
            assert!(e.correlation_id().is_some_and(|c| !c.is_empty()), "{e:?}");
        }
        other => panic!("{other:?}"),
    }

    let no_service = ok(p
        .endpoints()
        .service("Erp.BO.NoSuchSvc")
        .map(|e| e.segment("Things"))
        .and_then(|e| Request::get(&e)));
    assert!(matches!(
        p.send(no_service).await,
        Err(Error::NotFound {
            status: Some(404),
            ..
        })
    ));

    let bad_filter = ok(p
        .endpoints()
        .service("Erp.BO.CustomerSvc")
        .map(|e| e.segment("Customers").query("$filter", "Name eq"))
        .and_then(|e| Request::get(&e)));
    match p.send(bad_filter).await {
        Err(e @ Error::Rejected { .. }) => {
            assert_eq!(e.status(), Some(400));
            assert!(e.details().is_empty(), "not a business rule: {e:?}");
            assert!(e.to_string().contains("$filter"), "{e}");
            assert!(e.correlation_id().is_some());
        }
        other => panic!("{other:?}"),
    }

    // Values with quotes, spaces and slashes reach the server intact.
    let odd = ok(p
        .endpoints()
        .service("Erp.BO.CustomerSvc")
        .map(|e| {
            e.segment("Customers")
                .query("$filter", "Name eq 'O''Brien / A&B + C'")
        })
        .and_then(|e| Request::get(&e)));
    let body: Value = ok(ok(p.send(odd).await).json());
    assert_eq!(body["value"].as_array().map(Vec::len), Some(0), "{body}");
}

#[tokio::test]
async fn tls_is_verified_and_sslservercert_adds_trust() {
    let mut config = small();
    config.tls.enabled = true;
    let emu = emulator(config).await;
    let ca = emu
        .tls_cert()
        .map(|p| p.display().to_string())
        .unwrap_or_else(|| panic!("no CA"));
    assert!(emu.url().starts_with("https://"));

    let untrusted = pipeline(&connection(&emu, ""));
    match untrusted.send(customers(&untrusted)).await {
        Err(Error::Transport { message, .. }) => {
            assert!(message.contains("not trusted"), "{message}");
            assert!(message.contains("SSLServerCert"), "{message}");
        }
        other => panic!("{other:?}"),
    }

    let trusted = pipeline(&connection(&emu, &format!("SSLServerCert={ca}")));
    ok(trusted.send(customers(&trusted)).await);

    // The same certificate given as PEM text.
    let pem = std::fs::read_to_string(&ca).unwrap_or_else(|e| panic!("{e}"));
    let inline = pipeline(&connection(&emu, &format!("SSLServerCert={{{pem}}}")));
    ok(inline.send(customers(&inline)).await);

    // `*` is refused before any call.
    let star = connection(&emu, "SSLServerCert=*");
    let any = Client::http_options(&star).err();
    assert_eq!(
        any.as_ref().and_then(Error::property),
        Some("SSLServerCert")
    );
}

#[tokio::test]
async fn a_self_signed_certificate_is_accepted_by_its_thumbprint_only() {
    let dir = tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"));
    let certified = rcgen::generate_simple_self_signed(vec!["127.0.0.1".to_owned()])
        .unwrap_or_else(|e| panic!("{e}"));
    let cert_path = dir.path().join("server.pem");
    let key_path = dir.path().join("server-key.pem");
    let write =
        |p: &std::path::Path, s: String| std::fs::write(p, s).unwrap_or_else(|e| panic!("{e}"));
    write(&cert_path, certified.cert.pem());
    write(&key_path, certified.signing_key.serialize_pem());
    let der = certified.cert.der().to_vec();

    let mut config = small();
    config.tls.enabled = true;
    config.tls.cert = Some(cert_path.clone());
    config.tls.key = Some(key_path);
    let emu = emulator(config).await;

    let pinned = pipeline(&connection(
        &emu,
        &format!("SSLServerCert={}", sha256_hex(&der)),
    ));
    ok(pinned.send(customers(&pinned)).await);

    let sha1: String = {
        use sha1::Digest as _;
        sha1::Sha1::digest(&der)
            .iter()
            .map(|b| format!("{b:02X}:"))
            .collect()
    };
    let pinned_sha1 = pipeline(&connection(
        &emu,
        &format!("SSLServerCert={}", sha1.trim_end_matches(':')),
    ));
    ok(pinned_sha1.send(customers(&pinned_sha1)).await);

    // The certificate file itself also works (an exact match).
    let by_file = pipeline(&connection(
        &emu,
        &format!("SSLServerCert={}", cert_path.display()),
    ));
    ok(by_file.send(customers(&by_file)).await);

    let other = pipeline(&connection(
        &emu,
        &format!("SSLServerCert={}", "ab".repeat(32)),
    ));
    assert!(matches!(
        other.send(customers(&other)).await,
        Err(Error::Transport { .. })
    ));
    let none = pipeline(&connection(&emu, ""));
    assert!(matches!(
        none.send(customers(&none)).await,
        Err(Error::Transport { .. })
    ));
}

/// Headers seen by the redirect test server, per path.
type Seen = Arc<Mutex<Vec<(String, Option<String>)>>>;

async fn redirect_server() -> (u16, Seen) {
    use axum::extract::{Request as AxumRequest, State};
    use axum::http::{header, StatusCode};
    use axum::response::IntoResponse;

    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    let port = listener.local_addr().map(|a| a.port()).unwrap_or_default();
    let seen: Seen = Arc::default();
    let app = axum::Router::new()
        .fallback(
            |State((seen, port)): State<(Seen, u16)>, req: AxumRequest| async move {
                let path = req.uri().path().to_owned();
                let auth = req
                    .headers()
                    .get(header::AUTHORIZATION)
                    .and_then(|v| v.to_str().ok())
                    .map(str::to_owned);
                if let Ok(mut s) = seen.lock() {
                    s.push((path.clone(), auth));
                }
                match path.as_str() {
                    "/Kinetic/api/v1/away" => (
                        StatusCode::FOUND,
                        [(
                            header::LOCATION,
                            format!("http://localhost:{port}/Kinetic/api/v1/landing"),
                        )],
                    )
                        .into_response(),
                    "/Kinetic/api/v1/near" => (
                        StatusCode::FOUND,
                        [(header::LOCATION, "/Kinetic/api/v1/landing".to_owned())],
                    )
                        .into_response(),
                    _ => (
                        StatusCode::OK,
                        [(header::CONTENT_TYPE, "application/json")],
                        "{}",
                    )
                        .into_response(),
                }
            },
        )
        .with_state((seen.clone(), port));
    tokio::spawn(async move {
        let _ = axum::serve(listener, app).await;
    });
    (port, seen)
}

#[tokio::test]
async fn redirects_stay_on_the_same_server() {
    let (port, seen) = redirect_server().await;
    let s = settings(&format!(
        "URL=http://127.0.0.1:{port};ERPInstance=Kinetic;User={USER};Password={PASSWORD};ApiKey=k-secret"
    ));
    let p = pipeline(&s);

    let near = ok(Request::get(&p.endpoints().v1("near")));
    let answer = ok(p.send(near).await);
    assert!(answer.url().path().ends_with("/landing"));

    let away = ok(Request::get(&p.endpoints().v1("away")));
    match p.send(away).await {
        Err(e @ Error::Protocol { .. }) => {
            assert_eq!(e.status(), Some(302));
            let text = e.to_string();
            assert!(
                text.contains("another server") && text.contains("localhost"),
                "{text}"
            );
        }
        other => panic!("{other:?}"),
    }
    let seen = seen.lock().map(|s| s.clone()).unwrap_or_default();
    let paths: Vec<&str> = seen.iter().map(|(p, _)| p.as_str()).collect();
    assert_eq!(
        paths,
        [
            "/Kinetic/api/v1/near",
            "/Kinetic/api/v1/landing",
            "/Kinetic/api/v1/away"
        ],
        "the cross-host target must not be called"
    );
    // The same-server redirect kept the credentials.
    assert!(seen
        .iter()
        .all(|(_, auth)| auth.as_deref().is_some_and(|a| a.starts_with("Basic "))));
}

/// A one-answer HTTP proxy: records each request head and answers `{}`.
async fn tiny_proxy() -> (u16, Arc<Mutex<Vec<String>>>) {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    let port = listener.local_addr().map(|a| a.port()).unwrap_or_default();
    let heads: Arc<Mutex<Vec<String>>> = Arc::default();
    let record = heads.clone();
    tokio::spawn(async move {
        while let Ok((mut socket, _)) = listener.accept().await {
            let record = record.clone();
            tokio::spawn(async move {
                let mut buf = Vec::new();
                let mut chunk = [0u8; 4096];
                while !buf.windows(4).any(|w| w == b"\r\n\r\n") {
                    match socket.read(&mut chunk).await {
                        Ok(0) | Err(_) => return,
                        Ok(n) => buf.extend_from_slice(chunk.get(..n).unwrap_or_default()),
                    }
                }
                if let Ok(mut h) = record.lock() {
                    h.push(String::from_utf8_lossy(&buf).into_owned());
                }
                let _ = socket
                    .write_all(b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: 2\r\nConnection: close\r\n\r\n{}")
                    .await;
            });
        }
    });
    (port, heads)
}

#[tokio::test]
async fn the_proxy_is_used_with_its_credentials_but_never_for_loopback() {
    let (port, heads) = tiny_proxy().await;
    // A name that resolves nowhere: only the proxy can answer, and it does without a lookup.
    // Plain http to another machine, so that the proxy sees the request: a lab's setting.
    let s = settings(&format!(
        "URL=http://erp.example.invalid;ERPInstance=Kinetic;User={USER};Password={PASSWORD};\
         ProxyServer=127.0.0.1;ProxyPort={port};ProxyUser=pu;ProxyPassword=pp;InsecureHttpForLab=true"
    ));
    let p = pipeline(&s);
    ok(p.send(customers(&p)).await);
    let seen = heads.lock().map(|h| h.clone()).unwrap_or_default();
    assert_eq!(seen.len(), 1);
    let head = seen.first().cloned().unwrap_or_default();
    assert!(
        head.starts_with("GET http://erp.example.invalid/Kinetic/api/v1/Erp.BO.CustomerSvc/Customers?$top=2 HTTP/1.1"),
        "{head}"
    );
    let lower = head.to_ascii_lowercase();
    assert!(
        head.contains("proxy-authorization: Basic cHU6cHA="),
        "{head}"
    );
    assert!(lower.contains("authorization: basic "), "{head}");

    // The emulator on 127.0.0.1 is reached directly, proxy or not.
    let emu = emulator(small()).await;
    let direct = pipeline(&connection(
        &emu,
        &format!("ProxyServer=127.0.0.1;ProxyPort={port}"),
    ));
    ok(direct.send(customers(&direct)).await);
    assert_eq!(heads.lock().map(|h| h.len()).unwrap_or_default(), 1);
}

#[tokio::test]
async fn timeouts_end_a_call_that_hangs() {
    // A server that accepts and never answers.
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    let port = listener.local_addr().map(|a| a.port()).unwrap_or_default();
    tokio::spawn(async move {
        let mut held = Vec::new();
        while let Ok((socket, _)) = listener.accept().await {
            held.push(socket);
        }
    });
    let clock = Arc::new(RecordingClock::default());
    let s = settings(&format!(
        "URL=http://127.0.0.1:{port};ERPInstance=Kinetic;User=u;Password=p;Timeout=1;MaxRetries=1"
    ));
    let p = ok(Pipeline::builder(options(&s), basic(&s))
        .clock(clock.clone())
        .retry(RetryConfig::default().with_max_retries(1))
        .build());
    match p.send(customers(&p)).await {
        Err(Error::Transport { message, .. }) => {
            assert!(message.contains("timed out"), "{message}")
        }
        other => panic!("{other:?}"),
    }
    // A GET that timed out is retried once; a POST is not.
    assert_eq!(clock.sleeps().len(), 1);
    let post = ok(Request::post(
        &p.endpoints().v1("Erp.BO.CustomerSvc").segment("Update"),
    ));
    match p.send(post).await {
        Err(Error::Transport { message, .. }) => {
            assert!(message.contains("not retried"), "{message}")
        }
        other => panic!("{other:?}"),
    }
    assert_eq!(clock.sleeps().len(), 1);
}
