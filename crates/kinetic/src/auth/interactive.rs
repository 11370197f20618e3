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
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;

use crate::http::Url;
use tokio::runtime::Handle;

use super::loopback;
use super::providers::TokenCredential;
use crate::clock::{unix_seconds, BoxFuture, Clock, SystemClock};
use crate::http::Credential;
use crate::oauth::code::{authorization_url, random_state, redeem};
use crate::oauth::{self, OAuthClient};
use crate::settings::{
    AuthScheme, ConfigDir, InitiateOAuth, OAuthGrantType, ProcessEnv, TokenExpiry,
};
use crate::store::{self, Change, PendingAuthorization, StoredSettings, TokenStore};
use crate::token::Token;
use crate::token::TokenSource;
use crate::{Error, Result, Secret, Settings};

/// A stored token with less than this left is refreshed rather than used: it could expire on the
/// way to the server.
const MIN_REMAINING_SECS: u64 = 60;

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
        let store = store::open(settings, &ProcessEnv, &ConfigDir::locate(&ProcessEnv))?;
        let oauth = super::providers::oauth_client(client, settings, Some(&store)).await?;
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
        let mut without_refresh = false;
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
                        crate::token::expiry_text(&t, self.clock.now())
                    );
                    step = Some(Step::Token(t.clone()));
                    return Ok(if from_store {
                        Change::Keep
                    } else {
                        Change::Write(StoredSettings {
                            token: Some(t),
                            pending,
                            ..StoredSettings::carried(current)
                        })
                    });
                }
                without_refresh = t.refresh_token.is_none();
                if let Some(refresh_token) = &t.refresh_token {
                    match rt.block_on(self.refresh(refresh_token))? {
                        Ok(new) => {
                            self.refreshes.fetch_add(1, Ordering::Relaxed);
                            step = Some(Step::Token(new.clone()));
                            return Ok(Change::Write(StoredSettings {
                                token: Some(new),
                                pending,
                                ..StoredSettings::carried(current)
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
                    ..StoredSettings::carried(current)
                }));
            }
            if self.flow.initiate == InitiateOAuth::GetAndRefresh {
                step = Some(Step::Interactive);
                // A refused token is forgotten so that no other process tries it again.
                return Ok(if refusal.is_some() && from_store {
                    Change::Write(StoredSettings {
                        token: None,
                        pending,
                        ..StoredSettings::carried(current)
                    })
                } else {
                    Change::Keep
                });
            }
            Err(nothing_usable(refusal.as_deref(), without_refresh))
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
                ..StoredSettings::carried(current)
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
                let agent = self.agent.clone();
                oauth::device::sign_in(&self.client, &self.flow.scope, &self.clock, &move |m| {
                    agent.show(m)
                })
                .await
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
fn nothing_usable(refusal: Option<&str>, without_refresh: bool) -> Error {
    let message = match refusal {
        Some(why) => format!(
            "InitiateOAuth=REFRESH never signs in, and the identity provider refused the stored refresh token ({why})"
        ),
        None if without_refresh => "InitiateOAuth=REFRESH never signs in, and the stored access token has expired without a refresh token to renew it (identity providers give one for the offline_access scope; some, following OpenID Connect Core 11, only when the sign-in asked for consent: Prompt=consent)".to_owned(),
        None => "InitiateOAuth=REFRESH never signs in, and there is no token to refresh: the token store is empty and neither OAuthRefreshToken nor OAuthVerifier is set".to_owned(),
    };
    Error::invalid_settings(
        "InitiateOAuth",
        message,
        "set OAuthVerifier to an authorization code, or OAuthRefreshToken, or copy a token file (OAuthSettingsLocation, with its OAuthSettingsKey) from a machine with a browser, or set InitiateOAuth=GETANDREFRESH to sign in",
    )
}

// ---- CODE, desktop ----

/// The desktop authorization-code flow with PKCE.
async fn desktop_code_flow(
    client: &OAuthClient,
    scope: &str,
    callback_url: &str,
    prompt: &Prompt,
    clock: &Arc<dyn Clock>,
    agent: &dyn UserAgent,
) -> Result<Token> {
    let lb = loopback::parse(callback_url)?;
    let (listeners, port) = loopback::bind(&lb).await?;
    let redirect_uri = format!("http://{}:{port}{}", lb.host, lb.path);
    let (verifier, challenge) = oauth::pkce();
    let state = random_state();
    let prompt = prompt.value(true, client.endpoints.prompt_values.as_deref())?;
    let url = authorization_url(
        client,
        &redirect_uri,
        scope,
        &state,
        &challenge,
        prompt.as_deref(),
    )?;
    if !agent.open_browser(&url) {
        agent.show(&format!(
            "Open this address in a web browser to sign in (waiting for the redirect to {redirect_uri}):\n{url}"
        ));
    }
    let code = loopback::receive_code(&listeners, &lb.path, &state, clock).await?;
    redeem(client, &code, &redirect_uri, Some(&verifier), scope).await
}

// ---- DEVICE ----

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
        let store = store::open(settings, &ProcessEnv, &ConfigDir::locate(&ProcessEnv))?;
        let oauth = super::providers::oauth_client(client, settings, Some(&store)).await?;
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
        let prompt = inner
            .flow
            .prompt
            .value(false, inner.client.endpoints.prompt_values.as_deref())?;
        let url = authorization_url(
            &inner.client,
            &redirect,
            &inner.flow.scope,
            &state,
            &challenge,
            prompt.as_deref(),
        )?;
        let now = inner.now();
        blocking(move |_| {
            inner.store.update(&mut |current| {
                let mut pending = PendingAuthorization::new(verifier.clone(), state.clone(), now);
                pending.redirect_uri = Some(redirect.clone());
                Ok(Change::Write(StoredSettings {
                    token: current.and_then(|c| c.token.clone()),
                    pending: Some(pending),
                    ..StoredSettings::carried(current)
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
                    return Err(crate::oauth::code::redirect_error(
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
                            error_type: None,
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
                    ..StoredSettings::carried(current)
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
        let current = store::load_blocking(&self.source.inner.store)
            .await?
            .and_then(|s| s.token);
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
}
