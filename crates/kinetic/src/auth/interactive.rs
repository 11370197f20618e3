//! The flows that sign a person in (`OAuthGrantType=CODE` and `DEVICE`) and the token store that
//! keeps their tokens between runs.
//!
//! - **CODE, desktop**: the system browser is opened on the authorization URL (or the URL is
//!   shown when no browser can be opened); the code comes back to a listener on the loopback
//!   `CallbackURL` (default `http://localhost:33333`), whose `state` must match the request's;
//!   the code is redeemed with its PKCE verifier.
//! - **CODE, web** ([`WebFlow`]): CData's three procedures, for an application that owns the
//!   browser: `GetOAuthAuthorizationURL` ([`WebFlow::authorization_url`], which keeps the PKCE
//!   verifier and `state` in the token store), `GetOAuthAccessToken`
//!   ([`WebFlow::access_token`], which redeems the code given as `Verifier`) and
//!   `RefreshOAuthAccessToken` ([`WebFlow::refresh_access_token`]).
//! - **DEVICE**: for a machine without a browser: the identity provider's message (a page to open
//!   elsewhere and a code to enter) is shown, and the token endpoint is polled at the interval it
//!   asked for, slower when told `slow_down`, until the person approves or the code expires.
//!
//! Every token goes through the [`TokenStore`] named by `OAuthSettingsLocation` (by default a file
//! under the configuration directory, one per URL, instance, client and user). The
//! [`StoredTokenSource`] reads it under the store's cross-process lock before deciding anything,
//! so processes sharing one file refresh a rotating refresh token once: the first to take the
//! lock refreshes and writes the new pair; the others find a fresh token and use it. `InitiateOAuth`
//! decides what happens when the store holds nothing usable:
//!
//! | `InitiateOAuth` | behaviour |
//! |---|---|
//! | `OFF` | only `OAuthAccessToken` is used (not this module); an error once it has expired |
//! | `GETANDREFRESH` | stored token, else refresh, else `OAuthVerifier`, else the interactive flow; then silent refreshes |
//! | `REFRESH` | stored token, else refresh (the store or `OAuthRefreshToken`), else `OAuthVerifier` once; never a browser or a device code |
//!
//! How a person is reached is a [`UserAgent`]: [`SystemUserAgent`] opens the system browser and
//! writes messages to standard error; tests inject one that drives the flow with an HTTP client.

use std::fmt;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;

use crate::http::Url;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tokio::runtime::Handle;

use super::cache::TokenSource;
use super::providers::TokenCredential;
use super::Token;
use crate::clock::{unix_seconds, BoxFuture, Clock, SystemClock};
use crate::http::Credential;
use crate::oauth::{self, OAuthClient};
use crate::settings::{
    AuthScheme, ConfigDir, InitiateOAuth, OAuthGrantType, ProcessEnv, TokenExpiry,
};
use crate::store::{self, Change, PendingAuthorization, StoredSettings, TokenStore};
use crate::OAuthErrorCode;
use crate::{Error, Result, Secret, Settings};

/// The device-code grant type (RFC 8628).
const DEVICE_GRANT: &str = "urn:ietf:params:oauth:grant-type:device_code";

/// A stored token with less than this left is refreshed rather than used: it could expire on the
/// way to the server.
const MIN_REMAINING_SECS: u64 = 60;

/// How long the desktop flow waits for the browser to come back.
const BROWSER_TIMEOUT: Duration = Duration::from_secs(5 * 60);

/// How long one connection to the loopback listener may take to send its request, so a stray
/// connection that sends nothing cannot hold up the sign-in.
const CALLBACK_READ_TIMEOUT: Duration = Duration::from_secs(10);

/// The largest callback request read (the code and state are a few hundred bytes).
const MAX_CALLBACK_REQUEST: usize = 16 * 1024;

/// How long the PKCE verifier of a web sign-in is kept waiting for its code. Entra's codes live
/// ten minutes; a person may take a while before reaching the consent page.
const PENDING_LIFETIME_SECS: u64 = 60 * 60;

/// How the connector reaches the person signing in.
pub trait UserAgent: Send + Sync + fmt::Debug {
    /// Opens `url` in a browser and returns at once (the flow then waits for the redirect);
    /// `false` when no browser could be opened, and the URL is then shown with
    /// [`show`](UserAgent::show) instead.
    fn open_browser(&self, url: &str) -> bool;

    /// Shows a message to the person: the device code and where to enter it, or the address to
    /// open by hand.
    fn show(&self, message: &str);
}

/// Whether `url` is an `http://` or `https://` address with a host and nothing a launcher could
/// read as an option (a leading `-`) or as more than one argument.
fn is_web_address(url: &str) -> bool {
    let lower = url.get(..8).unwrap_or(url).to_ascii_lowercase();
    (lower.starts_with("https://") || lower.starts_with("http://"))
        && !url.chars().any(|c| c.is_whitespace() || c.is_control())
}

/// The system browser and standard error.
#[derive(Clone, Copy, Debug, Default)]
pub struct SystemUserAgent;

impl UserAgent for SystemUserAgent {
    fn open_browser(&self, url: &str) -> bool {
        use std::process::{Command, Stdio};
        // Only web addresses reach the launcher: `open`, `xdg-open` and `url.dll` also run files
        // and other schemes, which an address built from a server's answer must never make them do.
        if !is_web_address(url) {
            return false;
        }
        let mut command = if cfg!(target_os = "macos") {
            let mut c = Command::new("open");
            c.arg(url);
            c
        } else if cfg!(windows) {
            // `start` would need a shell, which would read `&` in the URL as a command separator.
            let mut c = Command::new("rundll32");
            c.args(["url.dll,FileProtocolHandler", url]);
            c
        } else {
            // Without a display, xdg-open would fall back to a text browser in this terminal.
            let display = ["DISPLAY", "WAYLAND_DISPLAY"]
                .iter()
                .any(|v| std::env::var_os(v).is_some_and(|x| !x.is_empty()));
            if !display {
                return false;
            }
            let mut c = Command::new("xdg-open");
            c.arg(url);
            c
        };
        command
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null());
        match command.spawn() {
            Ok(mut child) => {
                // Reaped in the background so it leaves no zombie; its exit status says little
                // (xdg-open returns before the browser has the page).
                std::thread::spawn(move || child.wait().map(|s| s.success()).unwrap_or(false));
                true
            }
            Err(_) => false,
        }
    }

    fn show(&self, message: &str) {
        eprintln!("{message}");
    }
}

/// What the flows need from the settings.
#[derive(Clone, Debug)]
struct Flow {
    grant: OAuthGrantType,
    initiate: InitiateOAuth,
    /// The scope asked for, with `offline_access openid profile` added.
    scope: String,
    callback_url: String,
    verifier: Option<Secret>,
    /// `OAuthAccessToken` / `OAuthRefreshToken`, used when the store holds no token.
    seed: Option<Token>,
    /// The `prompt` of a browser sign-in (see [`Prompt`]).
    prompt: Prompt,
}

/// What `prompt` a browser sign-in sends (the `Prompt` property).
#[derive(Debug, Clone, PartialEq, Eq)]
enum Prompt {
    /// `auto`: Azure AD's `select_account` for the desktop sign-in (as MSAL does), nothing to
    /// other providers, nor where the provider's discovery does not list it.
    Auto { azure_ad: bool },
    /// `omit`.
    Omit,
    /// A value the user chose: sent, or refused before any sign-in when the provider lists the
    /// prompts it supports and this is not one.
    Explicit(String),
}

impl Prompt {
    fn from_settings(settings: &Settings) -> Prompt {
        match settings.oauth.prompt.as_str() {
            "auto" | "" => Prompt::Auto {
                azure_ad: settings.auth.scheme == AuthScheme::AzureAd,
            },
            "omit" => Prompt::Omit,
            other => Prompt::Explicit(other.to_owned()),
        }
    }

    /// The value to send on a desktop (`desktop`) or web sign-in, given what the provider lists.
    fn value(&self, desktop: bool, supported: Option<&[String]>) -> Result<Option<String>> {
        let listed = |p: &str| supported.is_none_or(|s| s.iter().any(|v| v == p));
        match self {
            Prompt::Omit => Ok(None),
            Prompt::Auto { azure_ad } => Ok((*azure_ad && desktop && listed("select_account"))
                .then(|| "select_account".to_owned())),
            Prompt::Explicit(p) if listed(p) => Ok(Some(p.clone())),
            Prompt::Explicit(p) => Err(Error::invalid_settings(
                "Prompt",
                format!(
                    "the identity provider does not support prompt={p}; it lists: {}",
                    supported.unwrap_or_default().join(", ")
                ),
                "set Prompt to one it lists, or to auto or omit",
            )),
        }
    }
}

impl Flow {
    fn from_settings(settings: &Settings) -> Result<Flow> {
        let s = &settings.oauth;
        let scope = s.scope.clone().ok_or_else(|| {
            Error::invalid_settings(
                "Scope",
                "`Scope` is required to sign in",
                "set Scope to the Epicor server app's delegated scope, e.g. api://{server app id}/user_impersonation",
            )
        })?;
        let mut scopes: Vec<&str> = scope.split_whitespace().collect();
        // offline_access brings the refresh token; openid and profile the id token.
        for extra in ["offline_access", "openid", "profile"] {
            if !scopes.contains(&extra) {
                scopes.push(extra);
            }
        }
        let seed = match (&s.access_token, &s.refresh_token) {
            (None, None) => None,
            (access, refresh) => {
                let mut t = match access {
                    Some(a) => {
                        let mut t = Token::bearer(a.clone());
                        // Without a timestamp (or with OAuthExpiresIn=-1) the expiry is unknown:
                        // the token is used until the server refuses it, and then refreshed.
                        if let (Some(TokenExpiry::After(after)), Some(stamp)) =
                            (&s.expires_in, s.token_timestamp)
                        {
                            t.obtained_at = Some(unix_seconds(stamp));
                            t.expires_at =
                                Some(unix_seconds(crate::clock::saturating_add(stamp, *after)));
                        }
                        t
                    }
                    // Only a refresh token: an access token that is never usable, so the first
                    // fetch refreshes.
                    None => Token::bearer("").with_expires_at(0),
                };
                t.refresh_token = refresh.clone();
                Some(t)
            }
        };
        Ok(Flow {
            grant: s.grant_type,
            initiate: s.initiate,
            scope: scopes.join(" "),
            callback_url: s.callback_url.clone(),
            verifier: s.verifier.clone(),
            seed,
            prompt: Prompt::from_settings(settings),
        })
    }
}

/// The token source of the `CODE` and `DEVICE` grants: tokens through the store, refreshed under
/// its lock, and an interactive sign-in when `InitiateOAuth=GETANDREFRESH` and nothing else works.
///
/// `fetch` runs the store's update (synchronous, and across processes it waits for a file lock)
/// on Tokio's blocking pool, and drives the identity provider call made inside it with
/// [`Handle::block_on`]: the refresh must happen under the lock, or two processes could both
/// redeem the same rotating refresh token. No async lock is held across that wait, and the worker
/// threads are never blocked. The interactive flows, which wait minutes for a person, run
/// outside the lock; their token is written afterwards.
#[derive(Clone)]
pub struct StoredTokenSource {
    inner: Arc<Inner>,
}

struct Inner {
    client: OAuthClient,
    store: Arc<dyn TokenStore>,
    clock: Arc<dyn Clock>,
    agent: Arc<dyn UserAgent>,
    flow: Flow,
    flows: AtomicU64,
    refreshes: AtomicU64,
    /// A token obtained (a rotated refresh token with it) that the store could not write: used
    /// instead of the store's older one, and written at the next chance, so the old refresh
    /// token is never replayed (which a rotating provider answers by revoking the sign-in).
    unsaved: std::sync::Mutex<Option<Token>>,
}

impl fmt::Debug for StoredTokenSource {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("StoredTokenSource")
            .field("grant", &self.inner.flow.grant)
            .field("initiate", &self.inner.flow.initiate)
            .field("store", &self.inner.store)
            .finish_non_exhaustive()
    }
}

/// What the locked part of a fetch decided.
enum Step {
    Token(Token),
    Interactive,
}

impl StoredTokenSource {
    /// A source over `client` and `store`, for the settings' grant, scope, `InitiateOAuth`,
    /// `CallbackURL`, `OAuthVerifier` and given tokens.
    pub fn new(
        settings: &Settings,
        client: OAuthClient,
        store: Arc<dyn TokenStore>,
        clock: Arc<dyn Clock>,
        agent: Arc<dyn UserAgent>,
    ) -> Result<StoredTokenSource> {
        let flow = Flow::from_settings(settings)?;
        if !flow.grant.is_interactive() {
            return Err(Error::invalid_settings(
                "OAuthGrantType",
                format!("OAuthGrantType={} does not sign a person in", flow.grant),
                "use OAuthGrantType=CODE or DEVICE",
            ));
        }
        Ok(StoredTokenSource {
            inner: Arc::new(Inner {
                client,
                store,
                clock,
                agent,
                flow,
                flows: AtomicU64::new(0),
                refreshes: AtomicU64::new(0),
                unsaved: std::sync::Mutex::new(None),
            }),
        })
    }

    /// The source for the settings: the identity provider by discovery, the store from
    /// `OAuthSettingsLocation` (or the default token file), the user's environment for the key.
    pub async fn from_settings(
        client: &crate::Client,
        settings: &Settings,
        agent: Arc<dyn UserAgent>,
    ) -> Result<StoredTokenSource> {
        let oauth = super::providers::oauth_client(client, settings).await?;
        let store = store::open(settings, &ProcessEnv, &ConfigDir::locate(&ProcessEnv))?;
        Self::new(settings, oauth, store, client.clock().clone(), agent)
    }

    /// The store tokens are kept in.
    pub fn store(&self) -> &Arc<dyn TokenStore> {
        &self.inner.store
    }

    /// How many interactive sign-ins (browser or device code) this source has started.
    pub fn flows(&self) -> u64 {
        self.inner.flows.load(Ordering::Relaxed)
    }

    /// How many refresh tokens this source has redeemed.
    pub fn refreshes(&self) -> u64 {
        self.inner.refreshes.load(Ordering::Relaxed)
    }
}

impl TokenSource for StoredTokenSource {
    fn fetch<'a>(&'a self, previous: Option<&'a Token>) -> BoxFuture<'a, Result<Token>> {
        Box::pin(async move {
            let inner = self.inner.clone();
            let previous = previous.map(|p| p.access_token.clone());
            let step = blocking(move |rt| inner.under_lock(previous.as_ref(), rt)).await?;
            match step {
                Step::Token(t) => Ok(t),
                Step::Interactive => {
                    let token = self.inner.interactive().await?;
                    let inner = self.inner.clone();
                    let saved = token.clone();
                    blocking(move |_| inner.save(saved)).await?;
                    Ok(token)
                }
            }
        })
    }
}

/// Runs `work` on Tokio's blocking pool with a handle to the current runtime (for
/// [`Handle::block_on`] inside it).
async fn blocking<T: Send + 'static>(
    work: impl FnOnce(&Handle) -> Result<T> + Send + 'static,
) -> Result<T> {
    let rt =
        Handle::try_current().map_err(|_| internal("the token store needs a Tokio runtime"))?;
    let inner_rt = rt.clone();
    rt.spawn_blocking(move || work(&inner_rt))
        .await
        .map_err(|_| internal("the token store task stopped before it finished"))?
}

fn internal(message: &str) -> Error {
    Error::internal(message)
}

/// Whether `token` can be handed out now: not the token being replaced, not (nearly) expired.
fn fresh(token: &Token, previous: Option<&Secret>, now: u64) -> bool {
    if token.access_token.expose().is_empty() || previous == Some(&token.access_token) {
        return false;
    }
    token
        .expires_at
        .is_none_or(|at| at > now + MIN_REMAINING_SECS)
}

/// A refresh the provider refused (the token was revoked, expired or already used) rather than
/// one that failed on the way or was throttled: only the former makes the token worth forgetting.
fn refused(e: &Error) -> bool {
    e.status()
        .is_some_and(|s| (400..500).contains(&s) && s != 429)
}

impl Inner {
    fn now(&self) -> u64 {
        unix_seconds(self.clock.now())
    }

    /// Under the store's lock: the stored token if fresh, else a refresh, else `OAuthVerifier`,
    /// else (GETANDREFRESH) the decision to sign in, else an error saying what to set.
    fn under_lock(&self, previous: Option<&Secret>, rt: &Handle) -> Result<Step> {
        let now = self.now();
        let mut step = None;
        let mut refusal: Option<String> = None;
        let unsaved = self
            .unsaved
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .clone();
        let updated = self.store.update(&mut |current| {
            let pending = current.and_then(|c| c.pending.clone());
            // A token this process could not save is newer than the stored one: use it, and
            // write it (`from_store` false makes a fresh one be written).
            let (stored, from_store) = match &unsaved {
                Some(t) => (Some(t.clone()), false),
                None => {
                    let t = current.and_then(|c| c.token.clone());
                    let from_store = t.is_some();
                    (t, from_store)
                }
            };
            // A stored token wins over the settings': its refresh token is the newer one.
            if let Some(t) = stored.or_else(|| self.flow.seed.clone()) {
                if fresh(&t, previous, now) {
                    tracing::debug!(
                        target: "epicor_kinetic::auth",
                        "token from {}: expires in {}",
                        if from_store { "the token store" } else { "this process or the settings" },
                        crate::logging::expiry_text(&t, self.clock.now())
                    );
                    step = Some(Step::Token(t.clone()));
                    return Ok(if from_store {
                        Change::Keep
                    } else {
                        Change::Write(StoredSettings {
                            token: Some(t),
                            pending,
                        })
                    });
                }
                if let Some(refresh_token) = &t.refresh_token {
                    match rt.block_on(self.refresh(refresh_token))? {
                        Ok(new) => {
                            self.refreshes.fetch_add(1, Ordering::Relaxed);
                            step = Some(Step::Token(new.clone()));
                            return Ok(Change::Write(StoredSettings {
                                token: Some(new),
                                pending,
                            }));
                        }
                        Err(why) => {
                            tracing::warn!(
                                target: "epicor_kinetic::auth",
                                "the identity provider refused the stored refresh token: {why}"
                            );
                            refusal = Some(why)
                        }
                    }
                }
            }
            if let Some(code) = &self.flow.verifier {
                let redirect = pending
                    .as_ref()
                    .and_then(|p| p.redirect_uri.clone())
                    .unwrap_or_else(|| self.flow.callback_url.clone());
                let verifier = pending.as_ref().map(|p| p.code_verifier.clone());
                let token = rt.block_on(redeem(
                    &self.client,
                    code,
                    &redirect,
                    verifier.as_ref(),
                    &self.flow.scope,
                ))?;
                step = Some(Step::Token(token.clone()));
                return Ok(Change::Write(StoredSettings {
                    token: Some(token),
                    pending: None,
                }));
            }
            if self.flow.initiate == InitiateOAuth::GetAndRefresh {
                step = Some(Step::Interactive);
                // A refused token is forgotten so that no other process tries it again.
                return Ok(if refusal.is_some() && from_store {
                    Change::Write(StoredSettings {
                        token: None,
                        pending,
                    })
                } else {
                    Change::Keep
                });
            }
            Err(nothing_usable(refusal.as_deref()))
        });
        match (updated, step) {
            (Ok(_), step) => {
                *self.unsaved.lock().unwrap_or_else(|p| p.into_inner()) = None;
                step.ok_or_else(|| internal("the token store did not run the refresh"))
            }
            // The decision was made (a token obtained), then writing it failed.
            (Err(e), Some(Step::Token(t))) => {
                self.keep_unsaved(t.clone(), e);
                Ok(Step::Token(t))
            }
            (Err(e), _) => Err(e),
        }
    }

    /// After a failed write of `token`: tries twice more, then keeps it in memory for this
    /// process (used and written at the next chance) and says so.
    fn keep_unsaved(&self, token: Token, first: Error) {
        let mut last = first;
        for wait in [100, 400] {
            std::thread::sleep(std::time::Duration::from_millis(wait));
            match self.write(&token) {
                Ok(()) => {
                    *self.unsaved.lock().unwrap_or_else(|p| p.into_inner()) = None;
                    return;
                }
                Err(e) => last = e,
            }
        }
        *self.unsaved.lock().unwrap_or_else(|p| p.into_inner()) = Some(token);
        self.agent.show(&format!(
            "warning: the new token could not be saved to the token store ({last}); it is kept in memory and saved at the next chance. Fix the store (disk space, permissions) before the next run, or it will start from the older token."
        ));
    }

    fn write(&self, token: &Token) -> Result<()> {
        self.store.update(&mut |current| {
            Ok(Change::Write(StoredSettings {
                token: Some(token.clone()),
                pending: current.and_then(|c| c.pending.clone()),
            }))
        })?;
        Ok(())
    }

    /// The refresh-token grant: `Ok(Err(why))` when the provider refused the refresh token.
    async fn refresh(&self, refresh_token: &Secret) -> Result<std::result::Result<Token, String>> {
        match oauth::refresh(&self.client, refresh_token, &self.flow.scope).await {
            Ok(t) => Ok(Ok(t)),
            Err(e) if refused(&e) => Ok(Err(e.to_string())),
            Err(e) => Err(e),
        }
    }

    async fn interactive(&self) -> Result<Token> {
        self.flows.fetch_add(1, Ordering::Relaxed);
        tracing::info!(
            target: "epicor_kinetic::auth",
            "signing in: OAuthGrantType={} (waiting for a person)",
            self.flow.grant
        );
        match self.flow.grant {
            OAuthGrantType::Device => {
                device_flow(&self.client, &self.flow.scope, &self.clock, &*self.agent).await
            }
            _ => {
                desktop_code_flow(
                    &self.client,
                    &self.flow.scope,
                    &self.flow.callback_url,
                    &self.flow.prompt,
                    &self.clock,
                    &*self.agent,
                )
                .await
            }
        }
    }

    /// Stores a token from a sign-in; a store that cannot be written leaves it in memory (see
    /// [`Inner::keep_unsaved`]), since the sign-in itself succeeded.
    fn save(&self, token: Token) -> Result<()> {
        if let Err(e) = self.write(&token) {
            self.keep_unsaved(token, e);
        }
        Ok(())
    }
}

/// The error of `InitiateOAuth=REFRESH` when there is nothing to refresh.
fn nothing_usable(refusal: Option<&str>) -> Error {
    let message = match refusal {
        Some(why) => format!(
            "InitiateOAuth=REFRESH never signs in, and the identity provider refused the stored refresh token ({why})"
        ),
        None => "InitiateOAuth=REFRESH never signs in, and there is no token to refresh: the token store is empty and neither OAuthRefreshToken nor OAuthVerifier is set".to_owned(),
    };
    Error::invalid_settings(
        "InitiateOAuth",
        message,
        "set OAuthVerifier to an authorization code, or OAuthRefreshToken, or copy a token file (OAuthSettingsLocation, with its OAuthSettingsKey) from a machine with a browser, or set InitiateOAuth=GETANDREFRESH to sign in",
    )
}

/// Redeems an authorization code.
async fn redeem(
    client: &OAuthClient,
    code: &Secret,
    redirect_uri: &str,
    code_verifier: Option<&Secret>,
    scope: &str,
) -> Result<Token> {
    let mut form = vec![
        ("grant_type", Secret::new("authorization_code")),
        ("code", code.clone()),
        ("redirect_uri", Secret::new(redirect_uri)),
        ("scope", Secret::new(scope)),
    ];
    if let Some(v) = code_verifier {
        form.push(("code_verifier", v.clone()));
    }
    client.request(form).await
}

/// A random `state`, 128 bits, base64url.
fn random_state() -> Secret {
    use base64::Engine;
    let bytes: [u8; 16] = rand::random();
    Secret::new(base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(bytes))
}

/// The authorization request's URL.
fn authorize_url(
    client: &OAuthClient,
    redirect_uri: &str,
    scope: &str,
    state: &Secret,
    challenge: &str,
    prompt: &Prompt,
    desktop: bool,
) -> Result<String> {
    let prompt = prompt.value(desktop, client.endpoints.prompt_values.as_deref())?;
    let base = client.endpoints.authorization.as_deref().ok_or_else(|| {
        Error::invalid_settings(
            "OAuthGrantType",
            "the identity provider's discovery document names no authorization endpoint",
            "use OAuthGrantType=DEVICE, or check OAuthAuthority / OAuthIssuer",
        )
    })?;
    let mut url = Url::parse(base).map_err(|e| Error::Protocol {
        status: None,
        message: format!("the authorization endpoint {base} is not a URL: {e}"),
        correlation_id: None,
        source: None,
    })?;
    {
        let mut q = url.query_pairs_mut();
        q.append_pair("client_id", &client.client_id)
            .append_pair("response_type", "code")
            .append_pair("redirect_uri", redirect_uri)
            .append_pair("response_mode", "query")
            .append_pair("scope", scope)
            .append_pair("state", state.expose())
            .append_pair("code_challenge", challenge)
            .append_pair("code_challenge_method", "S256");
        if let Some(p) = &prompt {
            q.append_pair("prompt", p);
        }
    }
    Ok(url.into())
}

// ---- CODE, desktop ----

/// Where the loopback listener binds and what redirect URI it answers to.
struct Loopback {
    ip: IpAddr,
    host: String,
    port: u16,
    path: String,
}

fn loopback(callback_url: &str) -> Result<Loopback> {
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
async fn bind_loopback(lb: &Loopback) -> Result<(Vec<TcpListener>, u16)> {
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

/// The desktop authorization-code flow with PKCE.
async fn desktop_code_flow(
    client: &OAuthClient,
    scope: &str,
    callback_url: &str,
    prompt: &Prompt,
    clock: &Arc<dyn Clock>,
    agent: &dyn UserAgent,
) -> Result<Token> {
    let lb = loopback(callback_url)?;
    let (listeners, port) = bind_loopback(&lb).await?;
    let redirect_uri = format!("http://{}:{port}{}", lb.host, lb.path);
    let (verifier, challenge) = oauth::pkce();
    let state = random_state();
    let url = authorize_url(
        client,
        &redirect_uri,
        scope,
        &state,
        &challenge,
        prompt,
        true,
    )?;
    if !agent.open_browser(&url) {
        agent.show(&format!(
            "Open this address in a web browser to sign in (waiting for the redirect to {redirect_uri}):\n{url}"
        ));
    }
    let code = receive_code(&listeners, &lb.path, &state, clock).await?;
    redeem(client, &code, &redirect_uri, Some(&verifier), scope).await
}

/// What one connection to the loopback listener brought.
enum Callback {
    Code(Secret),
    /// Not the redirect (a favicon, a probe): answered and ignored.
    Ignored,
}

/// Accepts connections until the redirect arrives (or the time runs out).
async fn receive_code(
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
        return Err(redirect_error(&error, description));
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

// ---- DEVICE ----

/// The device-code flow (RFC 8628).
async fn device_flow(
    client: &OAuthClient,
    scope: &str,
    clock: &Arc<dyn Clock>,
    agent: &dyn UserAgent,
) -> Result<Token> {
    let endpoint = client
        .endpoints
        .device_authorization
        .clone()
        .ok_or_else(|| {
            Error::invalid_settings(
                "OAuthGrantType",
                "the identity provider's discovery document names no device authorization endpoint",
                "use OAuthGrantType=CODE",
            )
        })?;
    let response = client
        .post_form(&endpoint, vec![("scope", Secret::new(scope))])
        .await?;
    let status = response.status().as_u16();
    let body = response.body();
    let v: serde_json::Value = serde_json::from_slice(body).map_err(|e| Error::Protocol {
        status: Some(status),
        message: format!("the device authorization answer is not JSON: {e}"),
        correlation_id: None,
        source: None,
    })?;
    let text = |k: &str| v.get(k).and_then(|x| x.as_str()).map(str::to_owned);
    let num = |k: &str| {
        v.get(k).and_then(|x| {
            x.as_u64()
                .or_else(|| x.as_str().and_then(|s| s.parse().ok()))
        })
    };
    let device_code = text("device_code")
        .map(Secret::new)
        .ok_or_else(|| Error::Protocol {
            status: Some(status),
            message: "the device authorization answer has no device_code".into(),
            correlation_id: None,
            source: None,
        })?;
    let message = text("message").unwrap_or_else(|| {
        format!(
            "To sign in, open {} in a web browser and enter the code {}.",
            text("verification_uri")
                .or_else(|| text("verification_url"))
                .unwrap_or_default(),
            text("user_code").unwrap_or_default()
        )
    });
    agent.show(&message);
    // A device code lives minutes (Entra: 15); the poll interval is seconds. Larger values from a
    // server are clamped so a broken answer neither overflows nor parks the sign-in for ever.
    let deadline = crate::clock::saturating_add(
        clock.now(),
        Duration::from_secs(num("expires_in").unwrap_or(900).min(86_400)),
    );
    let mut interval = Duration::from_secs(num("interval").unwrap_or(5).clamp(1, 60));
    loop {
        clock.sleep(interval).await;
        if clock.now() >= deadline {
            return Err(device_error(
                None,
                "the device code expired before the sign-in was completed; start again",
            ));
        }
        let answer = client
            .request(vec![
                ("grant_type", Secret::new(DEVICE_GRANT)),
                ("device_code", device_code.clone()),
            ])
            .await;
        let (status, refused) = match answer {
            Ok(token) => return Ok(token),
            Err(Error::OAuth { status, error }) => (status, error),
            Err(e) => return Err(e),
        };
        match &refused.code {
            OAuthErrorCode::AuthorizationPending => {}
            // RFC 8628 §3.5: add five seconds to this and every later poll.
            OAuthErrorCode::SlowDown => {
                interval = (interval + Duration::from_secs(5)).min(Duration::from_secs(60))
            }
            OAuthErrorCode::ExpiredToken => {
                return Err(device_error(
                    status,
                    "the device code expired before the sign-in was completed; start again",
                ))
            }
            OAuthErrorCode::Other(c) if c == "code_expired" => {
                return Err(device_error(
                    status,
                    "the device code expired before the sign-in was completed; start again",
                ))
            }
            // Declined (Entra answers authorization_declined): the provider's refusal as it is,
            // its code naming what happened.
            OAuthErrorCode::AccessDenied | OAuthErrorCode::Other(_)
                if refused.code == OAuthErrorCode::AccessDenied
                    || refused.code.as_str() == "authorization_declined" =>
            {
                let mut error = refused;
                if error.description.is_empty() {
                    error.description = "the sign-in on the other device was declined".into();
                }
                return Err(Error::OAuth { status, error });
            }
            _ => {
                return Err(Error::OAuth {
                    status,
                    error: refused,
                })
            }
        }
    }
}

/// The error of a sign-in the identity provider answered with an error redirect (RFC 6749
/// 4.1.2.1: `error=access_denied` when the person cancels or declines, ...): the provider's
/// refusal, so that it is reported as its OAuth code rather than as a wrong Epicor password.
fn redirect_error(code: &str, description: String) -> Error {
    Error::OAuth {
        status: None,
        error: Box::new(crate::OAuthError::new(
            OAuthErrorCode::parse(code),
            description,
        )),
    }
}

fn device_error(status: Option<u16>, message: &str) -> Error {
    Error::Unauthorized {
        status,
        message: message.to_owned(),
        correlation_id: None,
    }
}

// ---- wiring ----

/// The credential for `OAuthGrantType=CODE` or `DEVICE` with `InitiateOAuth` other than `OFF`:
/// a [`StoredTokenSource`] behind the token cache.
pub async fn credential(
    client: &crate::Client,
    settings: &Settings,
    agent: Arc<dyn UserAgent>,
) -> Result<Arc<dyn Credential>> {
    let source = StoredTokenSource::from_settings(client, settings, agent).await?;
    Ok(Arc::new(TokenCredential::new(
        source,
        client.clock().clone(),
    )))
}

// ---- CODE, web ----

/// CData's web procedures for `OAuthGrantType=CODE`, for an application that owns the browser
/// (a web app redirecting its user): the authorization URL, the code's redemption and the
/// refresh, with the PKCE verifier, `state` and tokens kept in the token store between the calls
/// (which may run in different processes).
#[derive(Clone, Debug)]
pub struct WebFlow {
    source: StoredTokenSource,
}

impl WebFlow {
    /// The procedures for the settings (discovery, the token store), on the system clock.
    pub async fn from_settings(settings: &Settings) -> Result<WebFlow> {
        Self::with_clock(settings, Arc::new(SystemClock)).await
    }

    /// As [`from_settings`](WebFlow::from_settings), on `clock`.
    pub async fn with_clock(settings: &Settings, clock: Arc<dyn Clock>) -> Result<WebFlow> {
        Self::with_client(&crate::Client::with_clock(settings, clock)?, settings).await
    }

    /// As [`from_settings`](WebFlow::from_settings), on a [`Client`](crate::Client)'s pool and
    /// discovery cache (a web app makes one client for all its users).
    pub async fn with_client(client: &crate::Client, settings: &Settings) -> Result<WebFlow> {
        let oauth = super::providers::oauth_client(client, settings).await?;
        let store = store::open(settings, &ProcessEnv, &ConfigDir::locate(&ProcessEnv))?;
        Self::new(settings, oauth, store, client.clock().clone())
    }

    /// The procedures over `client` and `store`.
    pub fn new(
        settings: &Settings,
        client: OAuthClient,
        store: Arc<dyn TokenStore>,
        clock: Arc<dyn Clock>,
    ) -> Result<WebFlow> {
        let mut settings = settings.clone();
        // The procedures never start a sign-in of their own, and the code comes as an argument.
        settings.oauth.grant_type = OAuthGrantType::Code;
        settings.oauth.initiate = InitiateOAuth::Refresh;
        settings.oauth.verifier = None;
        let source =
            StoredTokenSource::new(&settings, client, store, clock, Arc::new(SystemUserAgent))?;
        Ok(WebFlow { source })
    }

    /// The token source behind the procedures (its store, its counters).
    pub fn source(&self) -> &StoredTokenSource {
        &self.source
    }

    /// `GetOAuthAuthorizationURL`: the URL to send the user to. A new PKCE verifier and `state`
    /// are kept in the token store (replacing any earlier pending request) for
    /// [`access_token`](WebFlow::access_token); the redirect goes to `CallbackURL`.
    pub async fn authorization_url(&self) -> Result<String> {
        let inner = self.source.inner.clone();
        let (verifier, challenge) = oauth::pkce();
        let state = random_state();
        let redirect = inner.flow.callback_url.clone();
        let url = authorize_url(
            &inner.client,
            &redirect,
            &inner.flow.scope,
            &state,
            &challenge,
            &inner.flow.prompt,
            false,
        )?;
        let now = inner.now();
        blocking(move |_| {
            inner.store.update(&mut |current| {
                let mut pending = PendingAuthorization::new(verifier.clone(), state.clone(), now);
                pending.redirect_uri = Some(redirect.clone());
                Ok(Change::Write(StoredSettings {
                    token: current.and_then(|c| c.token.clone()),
                    pending: Some(pending),
                }))
            })
        })
        .await?;
        Ok(url)
    }

    /// `GetOAuthAccessToken`: redeems the code the redirect brought (`Verifier`), with the
    /// pending request's PKCE verifier, and stores the token. `verifier` is the code, or the whole
    /// redirect URL, whose `state` is then checked against the pending request's. The pending
    /// request is used once.
    pub async fn access_token(&self, verifier: &str) -> Result<Token> {
        let inner = self.source.inner.clone();
        let (code, state) = match Url::parse(verifier) {
            Ok(url) if url.query_pairs().any(|(k, _)| k == "code" || k == "error") => {
                let get = |k: &str| {
                    url.query_pairs()
                        .find(|(key, _)| key == k)
                        .map(|(_, v)| v.into_owned())
                };
                if let Some(error) = get("error") {
                    return Err(redirect_error(
                        &error,
                        get("error_description").unwrap_or_default(),
                    ));
                }
                // A whole redirect must carry the request's state: a missing one is a mismatch.
                (get("code").unwrap_or_default(), Some(get("state")))
            }
            _ => (verifier.trim().to_owned(), None),
        };
        if code.is_empty() {
            return Err(Error::invalid_settings(
                "OAuthVerifier",
                "no authorization code was given",
                "pass the `code` parameter of the redirect (or the whole redirect URL)",
            ));
        }
        let code = Secret::new(code);
        let now = inner.now();
        blocking(move |rt| {
            let mut out = None;
            inner.store.update(&mut |current| {
                let pending = current.and_then(|c| c.pending.clone()).ok_or_else(|| {
                    Error::invalid_settings(
                        "OAuthVerifier",
                        "no authorization request is pending in the token store",
                        "call GetOAuthAuthorizationURL first, with the same OAuthSettingsLocation",
                    )
                })?;
                if now.saturating_sub(pending.created_at) > PENDING_LIFETIME_SECS {
                    return Err(Error::invalid_settings(
                        "OAuthVerifier",
                        "the pending authorization request is more than an hour old",
                        "call GetOAuthAuthorizationURL again and sign in",
                    ));
                }
                if let Some(s) = &state {
                    if s.as_deref() != Some(pending.state.expose()) {
                        return Err(Error::Unauthorized {
                            status: None,
                            message: "the redirect's state does not match the pending authorization request's (a forged or stale redirect was refused)".into(),
                            correlation_id: None,
                        });
                    }
                }
                let redirect = pending
                    .redirect_uri
                    .clone()
                    .unwrap_or_else(|| inner.flow.callback_url.clone());
                let token = rt.block_on(redeem(
                    &inner.client,
                    &code,
                    &redirect,
                    Some(&pending.code_verifier),
                    &inner.flow.scope,
                ))?;
                out = Some(token.clone());
                Ok(Change::Write(StoredSettings {
                    token: Some(token),
                    pending: None,
                }))
            })?;
            out.ok_or_else(|| internal("the token store did not redeem the code"))
        })
        .await
    }

    /// `RefreshOAuthAccessToken`: a new access token from the stored refresh token (or
    /// `OAuthRefreshToken`), stored in its place. If another process refreshed a moment ago, its
    /// token is returned instead of refreshing again.
    pub async fn refresh_access_token(&self) -> Result<Token> {
        let store = self.source.inner.store.clone();
        let current = blocking(move |_| store.load()).await?.and_then(|s| s.token);
        self.source.fetch(current.as_ref()).await
    }
}

/// `GetOAuthAuthorizationURL` for the settings (see [`WebFlow::authorization_url`]).
pub async fn get_oauth_authorization_url(settings: &Settings) -> Result<String> {
    WebFlow::from_settings(settings)
        .await?
        .authorization_url()
        .await
}

/// `GetOAuthAccessToken` for the settings (see [`WebFlow::access_token`]).
pub async fn get_oauth_access_token(settings: &Settings, verifier: &str) -> Result<Token> {
    WebFlow::from_settings(settings)
        .await?
        .access_token(verifier)
        .await
}

/// `RefreshOAuthAccessToken` for the settings (see [`WebFlow::refresh_access_token`]).
pub async fn refresh_oauth_access_token(settings: &Settings) -> Result<Token> {
    WebFlow::from_settings(settings)
        .await?
        .refresh_access_token()
        .await
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn loopback_callbacks_are_parsed_and_others_refused() {
        let l = loopback("http://localhost:33333").unwrap();
        assert_eq!(
            (l.host.as_str(), l.port, l.path.as_str()),
            ("localhost", 33333, "")
        );
        let l = loopback("http://127.0.0.1:0/cb").unwrap();
        assert_eq!((l.port, l.path.as_str()), (0, "/cb"));
        for bad in ["https://localhost:1", "http://example.com:1", "not a url"] {
            assert_eq!(
                loopback(bad)
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
        let (listeners, port) = bind_loopback(&loopback("http://localhost:0").unwrap())
            .await
            .unwrap();
        assert_ne!(port, 0);
        tokio::net::TcpStream::connect(("127.0.0.1", port))
            .await
            .unwrap();
        if std::net::TcpListener::bind("[::1]:0").is_ok() {
            assert_eq!(listeners.len(), 2, "IPv6 loopback exists here");
            tokio::net::TcpStream::connect(("::1", port)).await.unwrap();
        }
        let (only_v4, _) = bind_loopback(&loopback("http://127.0.0.1:0").unwrap())
            .await
            .unwrap();
        assert_eq!(only_v4.len(), 1, "an explicit address is listened on alone");
    }

    /// `prompt=select_account` is Azure AD's (and MSAL's) default; other providers may refuse it
    /// ("unsupported prompt value requested"), so it is sent only where it is wanted and listed.
    #[test]
    fn the_prompt_is_sent_only_where_wanted_and_supported() {
        let listed = |v: &[&str]| v.iter().map(|s| s.to_string()).collect::<Vec<_>>();
        let azure = Prompt::Auto { azure_ad: true };
        let other = Prompt::Auto { azure_ad: false };
        assert_eq!(
            azure.value(true, None).unwrap().as_deref(),
            Some("select_account")
        );
        assert_eq!(
            azure.value(false, None).unwrap(),
            None,
            "web sign-ins send none"
        );
        assert_eq!(other.value(true, None).unwrap(), None);
        assert_eq!(
            azure
                .value(true, Some(&listed(&["none", "login", "consent"])))
                .unwrap(),
            None,
            "not listed: not sent"
        );
        assert_eq!(Prompt::Omit.value(true, None).unwrap(), None);
        let login = Prompt::Explicit("login".into());
        assert_eq!(
            login
                .value(true, Some(&listed(&["login", "consent"])))
                .unwrap()
                .as_deref(),
            Some("login")
        );
        let e = Prompt::Explicit("select_account".into())
            .value(true, Some(&listed(&["none", "login", "consent"])))
            .unwrap_err();
        assert_eq!(e.property(), Some("Prompt"));
        let settings = |extra: &str| {
            Settings::parse(&format!(
                "URL=https://erp.example.com;ERPInstance=K;ApiVersion=v2;Company=C;ApiKey=k;{extra}OAuthGrantType=CODE;InitiateOAuth=GETANDREFRESH;OAuthClientId=c;Scope=s"
            ))
            .unwrap()
        };
        assert_eq!(
            Prompt::from_settings(&settings("AuthScheme=AzureAD;AzureTenant=t;")),
            Prompt::Auto { azure_ad: true }
        );
        assert_eq!(
            Prompt::from_settings(&settings(
                "AuthScheme=OAuth;OAuthIssuer=https://idp.example/r;"
            )),
            Prompt::Auto { azure_ad: false }
        );
        assert_eq!(
            Prompt::from_settings(&settings(
                "AuthScheme=OAuth;OAuthIssuer=https://idp.example/r;Prompt=Login;"
            )),
            Prompt::Explicit("login".into())
        );
    }

    #[test]
    fn only_web_addresses_reach_the_browser_launcher() {
        assert!(is_web_address(
            "https://login.example/t/oauth2/v2.0/authorize?a=1&b=2"
        ));
        assert!(is_web_address("HTTP://127.0.0.1:8040/x"));
        for bad in [
            "file:///etc/passwd",
            "javascript:alert(1)",
            "calc.exe",
            "-x https://a",
            "https://a b",
            "https://a\nb",
            "smb://host/share",
        ] {
            assert!(!is_web_address(bad), "{bad}");
            assert!(!SystemUserAgent.open_browser(bad), "{bad}");
        }
    }

    #[test]
    fn freshness_skips_the_token_being_replaced_and_expiring_ones() {
        let t = Token::bearer("a").with_expires_at(1_000);
        assert!(fresh(&t, None, 100));
        assert!(!fresh(&t, Some(&Secret::new("a")), 100));
        assert!(fresh(&t, Some(&Secret::new("b")), 100));
        assert!(!fresh(&t, None, 1_000 - MIN_REMAINING_SECS));
        assert!(!fresh(&Token::bearer(""), None, 0));
        assert!(fresh(&Token::bearer("x"), None, u64::MAX / 2));
    }

    #[test]
    fn pages_escape_what_the_redirect_said() {
        let p = page("Sign-in failed", "<script>x</script>");
        assert!(!p.contains("<script>"));
    }
}
