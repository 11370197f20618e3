//! `kinetic-webapp`: an example web application whose users sign in with Azure AD (Microsoft Entra
//! ID) while its server calls Epicor Kinetic on their behalf. Copy it.
//!
//! - Sign-in: the authorization-code flow with PKCE, `state` and `nonce`, as a confidential client
//!   ([`epicor_kinetic::auth::web::WebSignIn`]).
//! - The session: an encrypted, HttpOnly, SameSite=Lax cookie (Secure over https) holding who
//!   signed in and their tokens to this app ([`session`]); nothing on the server, so any
//!   instance serves any user.
//! - Epicor: `client.on_behalf_of(user's token)` per request; the Epicor tokens are cached per
//!   user in this process and, with `OAuthSettingsLocation=redis://...`, in Redis for every
//!   instance.
//! - Pages: the user's customers (with an update form, CSRF-protected) and open orders; errors
//!   in plain words; sign-out here and at the identity provider.
//!
//! Configured by environment variables (see `--help`); the defaults point at `kinetic emulator`
//! on 127.0.0.1:8040.

mod pages;
mod session;

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::{Instant, SystemTime, UNIX_EPOCH};

use axum::extract::{Form, Path, Query, State};
use axum::http::{header, HeaderMap, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::Router;
use epicor_kinetic::auth::web::{PendingSignIn, WebSignIn};
use epicor_kinetic::http::KeyValue;
use epicor_kinetic::token::RefreshPolicy;
use epicor_kinetic::{Client, Error, ErrorKind, Secret, Settings};
use serde::Deserialize;

use pages::{esc, Page};
use session::{
    Pending, Sealer, Session, StepUp, PENDING, PENDING_SECS, SESSION, SESSION_SECS, STEP_UP,
};

const HELP: &str = "kinetic-webapp: an example web application. Users sign in with Azure AD; the
server calls Epicor Kinetic on their behalf (on-behalf-of), with their Epicor tokens cached per user
(in Redis too, shared by every instance, with OAuthSettingsLocation=redis://...).

Environment:
  KINETIC_WEBAPP_LISTEN      address to listen on (default 127.0.0.1:8080; port 0 picks one)
  KINETIC_WEBAPP_URL         the address browsers use, e.g. https://app.example.com (default
                             http://{listen}); {URL}/auth/callback must be a redirect URI of the
                             app registration, and {URL}/ its sign-out redirect
  KINETIC_WEBAPP_CONNECTION  the connection string: Epicor's URL, ERPInstance, ApiKey, and the
                             web app's registration: AuthScheme=AzureAD;AzureTenant;OAuthGrantType=OBO;
                             OAuthClientId;OAuthClientSecret (or OAuthJWTCert);Scope (Epicor's
                             delegated scope); optionally OAuthSettingsLocation=redis://host:6379/0
                             with OAuthSettingsKey (the same on every instance) and
                             OAuthSettingsPassword. Default: the emulator's web app at
                             http://127.0.0.1:8040.
  KINETIC_WEBAPP_SCOPE       the app's own API scope users sign in for (default
                             api://{OAuthClientId}/access_as_user)
  KINETIC_WEBAPP_COOKIE_KEY  64 hex digits encrypting the session cookie, the same on every
                             instance (default: a random key, so sessions end with the process)
  KINETIC_WEBAPP_INSTANCE    a name shown at the foot of each page (default: the process id)
  RUST_LOG                   log filter (default info)

Run against the emulator:
  kinetic emulator &            # in one terminal (port 8040)
  cargo run -p epicor-kinetic-webapp
  then open http://127.0.0.1:8080 and sign in as alice@kinetic.example / Alice123!";

/// The emulator's web app, at its default address.
fn default_connection() -> String {
    const TENANT: &str = "4b1d5e7a-9c2f-4e3a-8b6d-0a1c2e3f4a5b";
    const WEB_APP: &str = "a7e2b9c1-3d5f-4b8a-9c1d-3c4d5e6f7081";
    const EPICOR_SERVER: &str = "e91c0d4f-6a3b-4c2d-9e8f-1a2b3c4d5e6f";
    format!(
        "URL=http://127.0.0.1:8040;ERPInstance=Kinetic;ApiKey=kinetic-demo-api-key-0000000000000000;\
         AuthScheme=AzureAD;AzureTenant={TENANT};OAuthAuthority=http://127.0.0.1:8040;OAuthGrantType=OBO;\
         OAuthClientId={WEB_APP};OAuthClientSecret=webapp-secret-0123456789abcdef;\
         Scope=api://{EPICOR_SERVER}/user_impersonation"
    )
}

struct App {
    client: Client,
    web: WebSignIn,
    sealer: Sealer,
    /// The address browsers use, without a trailing slash.
    public: String,
    /// The origin of `public` (for the Origin check of posts).
    origin: String,
    secure: bool,
    /// The app's own API scope.
    scope: String,
    instance: String,
    /// Where the identity provider is, for the pages' Content-Security-Policy (form-action).
    idp_origin: String,
}

fn now() -> u64 {
    now_ms() / 1000
}

fn now_ms() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_millis() as u64)
}

fn env(name: &str) -> Option<String> {
    std::env::var(name).ok().filter(|v| !v.trim().is_empty())
}

fn hex_key(text: &str) -> Option<[u8; 32]> {
    let text = text.trim();
    if text.len() != 64 {
        return None;
    }
    let mut key = [0u8; 32];
    for (i, b) in key.iter_mut().enumerate() {
        *b = u8::from_str_radix(text.get(2 * i..2 * i + 2)?, 16).ok()?;
    }
    Some(key)
}

#[tokio::main]
async fn main() {
    if std::env::args().any(|a| a == "--help" || a == "-h") {
        println!("{HELP}");
        return;
    }
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env()
                .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info")),
        )
        .with_writer(std::io::stderr)
        .init();
    if let Err(e) = run().await {
        eprintln!("kinetic-webapp: {e}");
        std::process::exit(1);
    }
}

async fn run() -> Result<(), String> {
    let listen = env("KINETIC_WEBAPP_LISTEN").unwrap_or_else(|| "127.0.0.1:8080".into());
    let listener = tokio::net::TcpListener::bind(&listen)
        .await
        .map_err(|e| format!("cannot listen on {listen} (KINETIC_WEBAPP_LISTEN): {e}"))?;
    let local: SocketAddr = listener.local_addr().map_err(|e| e.to_string())?;
    let public = env("KINETIC_WEBAPP_URL")
        .unwrap_or_else(|| format!("http://{local}"))
        .trim_end_matches('/')
        .to_owned();
    let public_url = url::Url::parse(&public)
        .map_err(|e| format!("KINETIC_WEBAPP_URL `{public}` is not a URL: {e}"))?;
    let origin = public_url.origin().ascii_serialization();
    let connection = env("KINETIC_WEBAPP_CONNECTION").unwrap_or_else(default_connection);
    let settings =
        Settings::parse(&connection).map_err(|e| format!("KINETIC_WEBAPP_CONNECTION: {e}"))?;
    let client = Client::new(&settings).map_err(|e| e.to_string())?;
    let scope = match env("KINETIC_WEBAPP_SCOPE") {
        Some(s) => s,
        None => format!(
            "api://{}/access_as_user",
            settings.oauth.client_id.as_deref().unwrap_or_default()
        ),
    };
    let web = WebSignIn::new(&client, &format!("{public}/auth/callback"))
        .await
        .map_err(|e| format!("the identity provider: {e}"))?;
    // The user token cache (and Redis, when named) is made now, so a bad location fails here.
    let users = client.user_tokens().await.map_err(|e| e.to_string())?;
    let key = match env("KINETIC_WEBAPP_COOKIE_KEY") {
        Some(k) => hex_key(&k)
            .ok_or("KINETIC_WEBAPP_COOKIE_KEY must be 64 hex digits (openssl rand -hex 32)")?,
        None => {
            tracing::warn!("KINETIC_WEBAPP_COOKIE_KEY is not set: a random key is used, so sessions end when this process does and are not shared with other instances");
            rand::random()
        }
    };
    let authority = settings
        .oauth
        .azure_authority()
        .or_else(|| settings.oauth.issuer.clone())
        .unwrap_or_default();
    let idp_origin = url::Url::parse(&authority)
        .map(|u| u.origin().ascii_serialization())
        .unwrap_or_default();
    let app = Arc::new(App {
        client,
        web,
        sealer: Sealer::new(key),
        secure: public_url.scheme() == "https",
        public,
        origin,
        scope,
        instance: env("KINETIC_WEBAPP_INSTANCE").unwrap_or_else(|| std::process::id().to_string()),
        idp_origin,
    });
    let router = Router::new()
        .route("/", get(home))
        .route("/auth/sign-in", get(sign_in))
        .route("/auth/consent", get(consent))
        .route("/auth/step-up", get(step_up))
        .route("/auth/callback", get(callback))
        .route("/auth/sign-out", post(sign_out))
        .route("/customers", get(customers))
        .route("/orders", get(orders))
        .route(
            "/customers/{company}/{custnum}/edit",
            get(edit_form).post(edit_save),
        )
        .route("/healthz", get(|| async { "ok" }))
        .layer(axum::middleware::from_fn(log_and_harden))
        .with_state(app.clone());
    // The one line tests and scripts read: where it listens.
    println!(
        "{}",
        serde_json::json!({
            "url": app.public,
            "listen": local.to_string(),
            "instance": app.instance,
            "shared_token_store": users.shared().map(|s| format!("{s:?}")),
        })
    );
    axum::serve(listener, router)
        .with_graceful_shutdown(async {
            let _ = tokio::signal::ctrl_c().await;
        })
        .await
        .map_err(|e| e.to_string())
}

/// One log line per request (method, path without its query, status, time: never a cookie, a
/// code or a token), and the headers every page carries.
async fn log_and_harden(request: axum::extract::Request, next: axum::middleware::Next) -> Response {
    let (method, path) = (request.method().clone(), request.uri().path().to_owned());
    let started = Instant::now();
    let mut response = next.run(request).await;
    let h = response.headers_mut();
    h.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    h.insert("x-frame-options", HeaderValue::from_static("DENY"));
    h.insert(
        "x-content-type-options",
        HeaderValue::from_static("nosniff"),
    );
    h.insert("referrer-policy", HeaderValue::from_static("same-origin"));
    tracing::info!(
        "{method} {path} {} {:.1} ms",
        response.status().as_u16(),
        started.elapsed().as_secs_f64() * 1e3
    );
    response
}

// ---- sessions ----

/// The page for a request without a (valid, current) session.
enum NoSession {
    /// Not signed in.
    Anonymous,
    /// Signed in once, but the session ended (expired, signed out elsewhere, refresh refused).
    Ended(&'static str),
}

impl App {
    fn page(&self, title: &str) -> Page {
        Page::new(title, &self.instance, &self.idp_origin)
    }

    /// The session of the request, its app token renewed when near expiry (then `renewed` is
    /// true and the cookie must be written again).
    async fn session(&self, headers: &HeaderMap) -> Result<(Session, bool), NoSession> {
        let text = session::cookie(headers, SESSION).ok_or(NoSession::Anonymous)?;
        let mut s: Session = self.sealer.open(SESSION, text).ok_or(NoSession::Ended(
            "Your session cookie is not valid here; sign in again.",
        ))?;
        let now = now();
        if now >= s.created_ms / 1000 + SESSION_SECS {
            return Err(NoSession::Ended("Your session has expired; sign in again."));
        }
        let users =
            self.client.user_tokens().await.map_err(|_| {
                NoSession::Ended("The server cannot check sessions; sign in again.")
            })?;
        let created = UNIX_EPOCH + std::time::Duration::from_millis(s.created_ms);
        if users
            .signed_out_at(&s.user)
            .await
            .is_some_and(|at| at >= created)
        {
            return Err(NoSession::Ended("You signed out; sign in again."));
        }
        // Renew the token to this app when the connector renews the Epicor token made from it (5
        // minutes ahead, or at half a shorter life): one exchange per user per token lifetime.
        let secs = |t: u64| UNIX_EPOCH + std::time::Duration::from_secs(t);
        let renew_at =
            RefreshPolicy::default().ahead_of_expiry(secs(s.expires_at), secs(s.obtained_at));
        if SystemTime::now() < renew_at {
            return Ok((s, false));
        }
        let Some(rt) = s.refresh_token.clone() else {
            return Err(NoSession::Ended("Your session has expired; sign in again."));
        };
        match self.web.refresh(&Secret::new(rt), &self.scope).await {
            Ok(t) => {
                s.access_token = t.access_token.expose().to_owned();
                if let Some(rt) = &t.refresh_token {
                    s.refresh_token = Some(rt.expose().to_owned());
                }
                s.obtained_at = t.obtained_at.unwrap_or(now);
                s.expires_at = t.expires_at.unwrap_or(now + 3600);
                Ok((s, true))
            }
            Err(e) => {
                tracing::warn!("session {}: the app token could not be renewed: {e}", s.sid);
                Err(NoSession::Ended("Your session has expired; sign in again."))
            }
        }
    }

    fn session_cookie(&self, s: &Session) -> String {
        let left = (s.created_ms / 1000 + SESSION_SECS).saturating_sub(now());
        session::set_cookie(SESSION, &self.sealer.seal(SESSION, s), left, self.secure)
    }

    fn clear(&self, name: &str) -> String {
        session::set_cookie(name, "", 0, self.secure)
    }

    fn no_session(&self, why: NoSession) -> Response {
        match why {
            NoSession::Anonymous => redirect("/", vec![]),
            NoSession::Ended(message) => {
                let body = format!(
                    "<p class=\"error\">{}</p><p><a href=\"/auth/sign-in\">Sign in</a></p>",
                    esc(message)
                );
                let mut r = self
                    .page("Signed out")
                    .body(&body)
                    .respond(StatusCode::UNAUTHORIZED);
                r.headers_mut().append(
                    header::SET_COOKIE,
                    HeaderValue::from_str(&self.clear(SESSION))
                        .unwrap_or(HeaderValue::from_static("")),
                );
                r
            }
        }
    }

    /// A page for a failed Epicor call, in plain words.
    fn epicor_error(&self, s: &Session, e: &Error) -> Response {
        if let Error::OAuth { error, .. } = e {
            if error.needs_sign_in() {
                let consent = error.suberror.as_deref() == Some("consent_required")
                    || error.aadsts.contains(&65001);
                if let (false, Some(claims)) = (consent, &error.claims) {
                    // Conditional Access wants a stronger sign-in: the challenge goes back to the
                    // identity provider with the next sign-in (sealed in a cookie, not in a URL).
                    let body = format!(
                        "<p class=\"error\" id=\"step-up\">Your organisation asks you to confirm it is you (a second sign-in step) before this app may use Epicor as you.</p>\
                         <p><a href=\"/auth/step-up\" id=\"verify-identity\">Continue</a></p>{}",
                        pages::nav(&s.csrf)
                    );
                    let pending = StepUp {
                        claims: claims.clone(),
                        created: now(),
                    };
                    let cookie = session::set_cookie(
                        STEP_UP,
                        &self.sealer.seal(STEP_UP, &pending),
                        PENDING_SECS,
                        self.secure,
                    );
                    return with_cookie(
                        self.page("Sign-in needed")
                            .body(&body)
                            .respond(StatusCode::FORBIDDEN),
                        Some(cookie),
                    );
                }
                let body = if consent {
                    format!(
                        "<p class=\"error\" id=\"consent-missing\">Epicor needs your consent before this app may use it as you.</p>\
                         <p><a href=\"/auth/consent\" id=\"give-consent\">Give consent</a></p>{}",
                        pages::nav(&s.csrf)
                    )
                } else {
                    "<p class=\"error\">Your sign-in must be renewed.</p><p><a href=\"/auth/sign-in\">Sign in again</a></p>".to_owned()
                };
                return self
                    .page("Sign-in needed")
                    .body(&body)
                    .respond(StatusCode::FORBIDDEN);
            }
        }
        let (status, what) = match e.kind() {
            ErrorKind::Forbidden
            | ErrorKind::Rejected
            | ErrorKind::Conflict
            | ErrorKind::NotFound => (StatusCode::FORBIDDEN, "Epicor refused"),
            ErrorKind::Unauthorized => {
                (StatusCode::FORBIDDEN, "Epicor did not accept your sign-in")
            }
            _ => (StatusCode::BAD_GATEWAY, "Epicor could not be reached"),
        };
        tracing::warn!("session {}: {what}: {e}", s.sid);
        let body = format!(
            "<p class=\"error\" id=\"epicor-error\">{what}: {}</p>{}",
            esc(&e.to_string()),
            pages::nav(&s.csrf)
        );
        self.page(what).body(&body).respond(status)
    }
}

fn redirect(to: &str, cookies: Vec<String>) -> Response {
    let mut r = (StatusCode::SEE_OTHER, [(header::LOCATION, to.to_owned())]).into_response();
    for c in cookies {
        if let Ok(v) = HeaderValue::from_str(&c) {
            r.headers_mut().append(header::SET_COOKIE, v);
        }
    }
    r
}

fn with_cookie(mut r: Response, cookie: Option<String>) -> Response {
    if let Some(v) = cookie.and_then(|c| HeaderValue::from_str(&c).ok()) {
        r.headers_mut().append(header::SET_COOKIE, v);
    }
    r
}

// ---- handlers ----

async fn home(State(app): State<Arc<App>>, headers: HeaderMap) -> Response {
    if session::cookie(&headers, SESSION).is_some() {
        if let Ok(_s) = app.session(&headers).await {
            return redirect("/customers", vec![]);
        }
    }
    app.page("Epicor, as you")
        .body(
            "<p>Sign in with your organisation's account to see your customers and open orders in Epicor.</p>\
             <p><a href=\"/auth/sign-in\" id=\"sign-in\">Sign in</a></p>",
        )
        .respond(StatusCode::OK)
}

/// Starts a sign-in: the pending state in its own short-lived cookie, the browser to the
/// identity provider.
async fn start(
    app: &App,
    scope: &str,
    prompt: Option<&str>,
    claims: Option<&str>,
    purpose: &str,
) -> Response {
    let (url, p): (String, PendingSignIn) = match app.web.begin(scope, prompt, claims) {
        Ok(x) => x,
        Err(e) => {
            return app
                .page("Sign-in failed")
                .body(&format!("<p class=\"error\">{}</p>", esc(&e.to_string())))
                .respond(StatusCode::INTERNAL_SERVER_ERROR)
        }
    };
    let pending = Pending {
        state: p.state.expose().to_owned(),
        verifier: p.verifier.expose().to_owned(),
        nonce: p.nonce.expose().to_owned(),
        scope: p.scope.clone(),
        purpose: purpose.to_owned(),
        created: now(),
    };
    let sealed = app.sealer.seal(PENDING, &pending);
    redirect(
        &url,
        vec![session::set_cookie(
            PENDING,
            &sealed,
            PENDING_SECS,
            app.secure,
        )],
    )
}

async fn sign_in(State(app): State<Arc<App>>) -> Response {
    start(&app, &app.scope, None, None, "sign-in").await
}

/// Sends a signed-in user to consent to Epicor's scope for this app (the answer to
/// `consent_required`); their session is kept.
async fn consent(State(app): State<Arc<App>>, headers: HeaderMap) -> Response {
    if let Err(why) = app.session(&headers).await {
        return app.no_session(why);
    }
    let epicor = app
        .client
        .settings()
        .oauth
        .scope
        .clone()
        .unwrap_or_default();
    start(&app, &epicor, Some("consent"), None, "consent").await
}

/// Signs a signed-in user in again with the identity provider's claims challenge (the answer to
/// `interaction_required` from Conditional Access): the provider asks for the second factor, and
/// the new session's token carries it.
async fn step_up(State(app): State<Arc<App>>, headers: HeaderMap) -> Response {
    if let Err(why) = app.session(&headers).await {
        return app.no_session(why);
    }
    let pending: Option<StepUp> = session::cookie(&headers, STEP_UP)
        .and_then(|t| app.sealer.open(STEP_UP, t))
        .filter(|p: &StepUp| now() < p.created + PENDING_SECS);
    let Some(pending) = pending else {
        return redirect("/customers", vec![app.clear(STEP_UP)]);
    };
    with_cookie(
        start(&app, &app.scope, None, Some(&pending.claims), "sign-in").await,
        Some(app.clear(STEP_UP)),
    )
}

#[derive(Deserialize)]
struct Callback {
    code: Option<String>,
    state: Option<String>,
    error: Option<String>,
    error_description: Option<String>,
}

async fn callback(
    State(app): State<Arc<App>>,
    headers: HeaderMap,
    Query(q): Query<Callback>,
) -> Response {
    let clear = app.clear(PENDING);
    let fail = |status: StatusCode, message: &str| {
        let body = format!(
            "<p class=\"error\" id=\"sign-in-error\">{}</p><p><a href=\"/auth/sign-in\">Try again</a></p>",
            esc(message)
        );
        with_cookie(
            app.page("Sign-in failed").body(&body).respond(status),
            Some(clear.clone()),
        )
    };
    let pending: Option<Pending> = session::cookie(&headers, PENDING)
        .and_then(|t| app.sealer.open(PENDING, t))
        .filter(|p: &Pending| now() < p.created + PENDING_SECS);
    let Some(pending) = pending else {
        return fail(
            StatusCode::BAD_REQUEST,
            "This sign-in was not started in this browser, or took too long. Start again.",
        );
    };
    if let Some(error) = &q.error {
        let words = match error.as_str() {
            "access_denied" => "You declined, so you are not signed in.".to_owned(),
            "consent_required" => "Consent is needed before you can use this app.".to_owned(),
            other => format!(
                "The identity provider refused: {other} ({})",
                q.error_description
                    .as_deref()
                    .unwrap_or("")
                    .lines()
                    .next()
                    .unwrap_or("")
            ),
        };
        return fail(StatusCode::FORBIDDEN, &words);
    }
    let (Some(code), Some(state)) = (q.code, q.state) else {
        return fail(StatusCode::BAD_REQUEST, "The sign-in answer has no code.");
    };
    let p = PendingSignIn {
        state: Secret::new(pending.state.as_str()),
        verifier: Secret::new(pending.verifier.as_str()),
        nonce: Secret::new(pending.nonce.as_str()),
        scope: pending.scope.clone(),
    };
    let signed = match app.web.finish(&p, &state, &Secret::new(code)).await {
        Ok(s) => s,
        Err(e) => {
            tracing::warn!("a sign-in failed: {e}");
            return fail(StatusCode::FORBIDDEN, &format!("The sign-in failed: {e}"));
        }
    };
    if pending.purpose == "consent" {
        // The consent is recorded at the identity provider; the session stays as it was.
        return redirect("/customers", vec![clear]);
    }
    let now = now();
    let csrf: [u8; 32] = rand::random();
    let sid: [u8; 12] = rand::random();
    use base64::Engine;
    let b64 = |b: &[u8]| base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(b);
    let s = Session {
        sid: b64(&sid),
        user: signed.user.clone(),
        name: signed.name.clone(),
        username: signed.username.clone(),
        access_token: signed.token.access_token.expose().to_owned(),
        refresh_token: signed
            .token
            .refresh_token
            .as_ref()
            .map(|r| r.expose().to_owned()),
        expires_at: signed.token.expires_at.unwrap_or(now + 3600),
        obtained_at: signed.token.obtained_at.unwrap_or(now),
        created_ms: now_ms(),
        csrf: b64(&csrf),
    };
    tracing::info!("session {} signed in ({})", s.sid, s.username);
    redirect("/customers", vec![clear, app.session_cookie(&s)])
}

#[derive(Deserialize)]
struct CsrfForm {
    csrf: String,
}

/// Checks a post: from this app's own origin (when the browser says), with the session's CSRF
/// token.
fn post_allowed(app: &App, headers: &HeaderMap, s: &Session, token: &str) -> bool {
    let origin_ok = headers
        .get(header::ORIGIN)
        .and_then(|o| o.to_str().ok())
        .is_none_or(|o| o == app.origin);
    origin_ok && Secret::new(token) == Secret::new(s.csrf.as_str())
}

fn csrf_refused(app: &App) -> Response {
    app.page("Refused")
        .body("<p class=\"error\" id=\"csrf-refused\">This form did not come from this app's page (its security token is missing or wrong). Nothing was changed.</p><p><a href=\"/customers\">Back</a></p>")
        .respond(StatusCode::FORBIDDEN)
}

async fn sign_out(
    State(app): State<Arc<App>>,
    headers: HeaderMap,
    Form(f): Form<CsrfForm>,
) -> Response {
    let (s, _) = match app.session(&headers).await {
        Ok(x) => x,
        Err(why) => return app.no_session(why),
    };
    if !post_allowed(&app, &headers, &s, &f.csrf) {
        return csrf_refused(&app);
    }
    if let Err(e) = app.client.sign_out_user(&s.user).await {
        // This instance forgot the user; the others learn when Redis is back or within a minute.
        tracing::warn!(
            "session {}: sign-out not shared with other instances: {e}",
            s.sid
        );
    }
    tracing::info!("session {} signed out", s.sid);
    let back = format!("{}/", app.public);
    let to = app.web.sign_out_url(&back).unwrap_or(back);
    redirect(&to, vec![app.clear(SESSION)])
}

/// Runs `f` with the user's Epicor connection; the page, or the error page.
async fn with_epicor<F, Fut>(app: &App, headers: &HeaderMap, f: F) -> Response
where
    F: FnOnce(epicor_kinetic::Connection, Session) -> Fut,
    Fut: std::future::Future<Output = (Session, Result<Response, Error>)>,
{
    match app.session(headers).await {
        Ok(session) => with_session(app, session, f).await,
        Err(why) => app.no_session(why),
    }
}

/// As [`with_epicor`], for a session already read (and renewed: then its cookie is written).
async fn with_session<F, Fut>(app: &App, (s, renewed): (Session, bool), f: F) -> Response
where
    F: FnOnce(epicor_kinetic::Connection, Session) -> Fut,
    Fut: std::future::Future<Output = (Session, Result<Response, Error>)>,
{
    let cookie = renewed.then(|| app.session_cookie(&s));
    let connection = match app
        .client
        .on_behalf_of(&Secret::new(s.access_token.as_str()))
        .await
    {
        Ok(c) => c,
        Err(e) => return with_cookie(app.epicor_error(&s, &e), cookie),
    };
    let (s, out) = f(connection, s).await;
    let response = match out {
        Ok(r) => r,
        Err(e) => app.epicor_error(&s, &e),
    };
    with_cookie(response, cookie)
}

/// The first `top` rows of an entity set, as JSON objects.
async fn rows(
    c: &epicor_kinetic::Connection,
    service: &str,
    set: &str,
    select: &[&str],
    filter: Option<&str>,
    top: u64,
) -> Result<Vec<serde_json::Map<String, serde_json::Value>>, Error> {
    use futures_util::TryStreamExt;
    let mut q = c
        .entity_set(service, set)
        .select(select.iter().copied())
        .top(top);
    if let Some(f) = filter {
        q = q.filter_str(f)?;
    }
    q.rows().try_collect().await
}

fn cell(row: &serde_json::Map<String, serde_json::Value>, k: &str) -> String {
    match row.get(k) {
        Some(serde_json::Value::String(s)) => s.clone(),
        Some(serde_json::Value::Null) | None => String::new(),
        Some(v) => v.to_string(),
    }
}

/// A signed-in page listing `rows` of an entity set as a table: `cells` gives each row's cells
/// (HTML, escaped).
struct Listing {
    service: &'static str,
    set: &'static str,
    select: &'static [&'static str],
    filter: Option<&'static str>,
    title: &'static str,
    heading: &'static str,
    id: &'static str,
    columns: &'static [&'static str],
    cells: fn(&serde_json::Map<String, serde_json::Value>) -> Vec<String>,
}

async fn listing(app: Arc<App>, headers: HeaderMap, l: Listing) -> Response {
    let a = app.clone();
    with_epicor(&app, &headers, |c, s| async move {
        let out = rows(&c, l.service, l.set, l.select, l.filter, 25)
            .await
            .map(|list| {
                let head: String = l.columns.iter().map(|h| format!("<th>{h}</th>")).collect();
                let mut table = format!("<table id=\"{}\"><tr>{head}</tr>", l.id);
                for r in &list {
                    let cells: String = (l.cells)(r)
                        .iter()
                        .map(|c| format!("<td>{c}</td>"))
                        .collect();
                    table.push_str(&format!("<tr>{cells}</tr>"));
                }
                table.push_str("</table>");
                let body = format!(
                    "<p id=\"who\">Signed in as {} ({})</p>{}<h2>{}</h2>{table}",
                    esc(&s.name),
                    esc(&s.username),
                    pages::nav(&s.csrf),
                    l.heading
                );
                a.page(l.title).body(&body).respond(StatusCode::OK)
            });
        (s, out)
    })
    .await
}

async fn customers(State(app): State<Arc<App>>, headers: HeaderMap) -> Response {
    listing(
        app,
        headers,
        Listing {
            service: "Erp.BO.CustomerSvc",
            set: "Customers",
            select: &["Company", "CustNum", "CustID", "Name", "City", "State"],
            filter: None,
            title: "Customers",
            heading: "Your customers",
            id: "customers",
            columns: &["Company", "Customer", "Name", "City", ""],
            cells: |r| {
                let (company, num) = (cell(r, "Company"), cell(r, "CustNum"));
                vec![
                    esc(&company),
                    esc(&cell(r, "CustID")),
                    esc(&cell(r, "Name")),
                    format!("{}, {}", esc(&cell(r, "City")), esc(&cell(r, "State"))),
                    format!(
                        "<a href=\"/customers/{}/{}/edit\">Edit</a>",
                        pages::path_segment(&company),
                        pages::path_segment(&num)
                    ),
                ]
            },
        },
    )
    .await
}

async fn orders(State(app): State<Arc<App>>, headers: HeaderMap) -> Response {
    listing(
        app,
        headers,
        Listing {
            service: "Erp.BO.SalesOrderSvc",
            set: "SalesOrders",
            select: &["Company", "OrderNum", "CustNum", "OrderDate", "OrderAmt"],
            filter: Some("OpenOrder eq true"),
            title: "Open orders",
            heading: "Your open orders",
            id: "orders",
            columns: &["Company", "Order", "Customer", "Date", "Amount"],
            cells: |r| {
                vec![
                    esc(&cell(r, "Company")),
                    esc(&cell(r, "OrderNum")),
                    esc(&cell(r, "CustNum")),
                    esc(cell(r, "OrderDate").get(..10).unwrap_or("")),
                    esc(&cell(r, "OrderAmt")),
                ]
            },
        },
    )
    .await
}

/// The key of a customer from the URL: the company as text, the number as a whole number.
fn customer_key(company: &str, custnum: &str) -> Option<[KeyValue; 2]> {
    let num: i64 = custnum.parse().ok()?;
    let ok = !company.is_empty()
        && company.len() <= 8
        && company.bytes().all(|b| b.is_ascii_alphanumeric());
    ok.then(|| [KeyValue::Str(company.to_owned()), KeyValue::Int(num)])
}

async fn edit_form(
    State(app): State<Arc<App>>,
    headers: HeaderMap,
    Path((company, custnum)): Path<(String, String)>,
) -> Response {
    let Some(key) = customer_key(&company, &custnum) else {
        return app
            .page("Not found")
            .body("<p class=\"error\">No such customer.</p>")
            .respond(StatusCode::NOT_FOUND);
    };
    let a = app.clone();
    with_epicor(&app, &headers, |c, s| async move {
        let out = c
            .get_by_key("Erp.BO.CustomerSvc", "Customers", &key)
            .await
            .map(|r| {
                let body = format!(
                    "{}<h2>Customer {} of {}</h2>\
                     <form method=\"post\" id=\"edit\"><input type=\"hidden\" name=\"csrf\" value=\"{}\">\
                     <label>Name <input name=\"name\" id=\"name\" value=\"{}\" maxlength=\"50\" required></label>\
                     <button type=\"submit\" id=\"save\">Save</button></form>",
                    pages::nav(&s.csrf),
                    esc(&cell(&r, "CustID")),
                    esc(&cell(&r, "Company")),
                    esc(&s.csrf),
                    esc(&cell(&r, "Name"))
                );
                a.page("Edit customer").body(&body).respond(StatusCode::OK)
            });
        (s, out)
    })
    .await
}

#[derive(Deserialize)]
struct EditForm {
    #[serde(default)]
    csrf: String,
    name: String,
}

async fn edit_save(
    State(app): State<Arc<App>>,
    headers: HeaderMap,
    Path((company, custnum)): Path<(String, String)>,
    Form(f): Form<EditForm>,
) -> Response {
    let Some(key) = customer_key(&company, &custnum) else {
        return app
            .page("Not found")
            .body("<p class=\"error\">No such customer.</p>")
            .respond(StatusCode::NOT_FOUND);
    };
    let name = f.name.trim().to_owned();
    if name.is_empty() || name.chars().count() > 50 {
        return app
            .page("Not saved")
            .body("<p class=\"error\">The name must have 1 to 50 characters.</p>")
            .respond(StatusCode::BAD_REQUEST);
    }
    // The CSRF check comes before any call to Epicor.
    let session = match app.session(&headers).await {
        Ok((s, _)) if !post_allowed(&app, &headers, &s, &f.csrf) => return csrf_refused(&app),
        Ok(session) => session,
        Err(why) => return app.no_session(why),
    };
    with_session(&app, session, |c, s| async move {
        let out = c
            .update(
                "Erp.BO.CustomerSvc",
                "Customers",
                &key,
                &serde_json::json!({ "Name": name }),
            )
            .await
            .map(|()| redirect("/customers", vec![]));
        (s, out)
    })
    .await
}
