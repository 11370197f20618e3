//! The HTTP pipeline every call to Epicor goes through.
//!
//! A [`Pipeline`] is built once from [`HttpOptions`] and a [`Credential`], and is cheap to clone
//! (clones share one connection pool). The options are HTTP's alone (addresses, Epicor's headers,
//! retries, timeout, proxy, TLS trust): [`Client::http_options`](crate::Client::http_options)
//! makes them from the connection string's settings, and nothing here reads those. The credential
//! is chosen by the caller (`auth/` does, for a [`Client`](crate::Client)). [`Pipeline::send`]
//! takes a [`Request`] and, per attempt:
//!
//! 1. asks the credential for the `Authorization` header (it may sign in or refresh first);
//! 2. adds `Accept: application/json`, a client request id (`x-correlation-id`, the same on every
//!    attempt of one call), `x-api-key` on `api/v2/` addresses when `ApiKey` is set, and on every
//!    `api/` address the `License` header (`{"ClaimedLicense":"<GUID of LicenseType>"}`, plus
//!    `"SessionID"` once [`Pipeline::set_session_id`] gave one) and `CallSettings` (from
//!    `Company`, `Plant`, `Language`);
//! 3. sends it with verified TLS, the `Timeout`, the proxy, and same-server redirects only;
//! 4. reads the whole answer, then retries or fails as [`retry`] describes: 429/502/503/504 and
//!    connection failures with jittered backoff honouring `Retry-After`, never repeating a
//!    non-idempotent call that may have run; a 401 renews the credential and retries once.
//!
//! Error answers become typed [`Error`]s with the status, the server's message and correlation
//! id ([`errors`]). Credentials are only ever sent to the server in `URL`: a request for another
//! server must opt out of them ([`Request::without_credentials`]).
//!
//! ```no_run
//! use epicor_kinetic::http::{Basic, Pipeline, Request};
//! use epicor_kinetic::{Client, Secret, Settings};
//! use std::sync::Arc;
//!
//! # async fn demo() -> epicor_kinetic::Result<()> {
//! let settings = Settings::parse(
//!     "URL=https://erp.example.com;ERPInstance=Kinetic;User=manager;Password=secret;Company=EPIC06",
//! )?;
//! let basic = Arc::new(Basic::new("manager", &Secret::new("secret")));
//! let pipeline = Pipeline::new(Client::http_options(&settings)?, basic)?;
//! let customers = pipeline
//!     .endpoints()
//!     .service("Erp.BO.CustomerSvc")?
//!     .segment("Customers")
//!     .query("$top", "10");
//! let answer = pipeline.send(Request::get(&customers)?).await?;
//! let rows: serde_json::Value = answer.json()?;
//! # let _ = rows; Ok(()) }
//! ```

mod client;
mod credential;
mod epicor_headers;
pub mod errors;
mod options;
pub mod retry;
mod tls;
mod transport;
mod url;

use std::fmt;
use std::sync::{Arc, PoisonError, RwLock};

use bytes::Bytes;
// The vocabulary types of HTTP, from the crates that define them (not the client library's
// re-exports): the public API names no HTTP client.
pub use ::http::header::{self, HeaderMap, HeaderName, HeaderValue};
use ::http::header::{ACCEPT, AUTHORIZATION, CONTENT_TYPE};
pub use ::http::{Method, StatusCode};
pub use ::url::Url;

pub use client::{MAX_REDIRECTS, NO_PROXY};
pub use credential::{Anonymous, Authorization, Basic, Credential, StaticBearer};
pub use epicor_headers::call_settings_header;
pub use errors::{parse_error_body, ServerError};
pub use options::{HttpOptions, Proxy, USER_AGENT};
pub use retry::RetryConfig;
pub use tls::{sha256_hex, TrustedCertificate};

pub(crate) use client::build_client;

pub use url::{
    custom_option_error, encode_query, encode_segment, Api, Endpoint, Endpoints, KeyValue,
};

use crate::clock::{Clock, SystemClock};
use crate::error::{Error, Result};
use crate::secret::Secret;
use epicor_headers::license_header;
use retry::{Decision, Failure, RetryContext};
use transport::{explain_give_up, too_large, transport_failure, Attempt};

/// The header carrying the client's id for one call (all its attempts).
pub const REQUEST_ID_HEADER: &str = "x-correlation-id";

/// The most bytes of one answer the pipeline reads; a longer answer is an error rather than an
/// unbounded allocation.
pub const DEFAULT_MAX_RESPONSE_BYTES: usize = 256 * 1024 * 1024;

/// One call to send: method, address, headers, body, and how it may be retried.
#[derive(Clone)]
pub struct Request {
    method: Method,
    url: Url,
    headers: HeaderMap,
    body: Option<Bytes>,
    idempotent: Option<bool>,
    credentials: bool,
    /// Values in the body (a client secret, a refresh token) kept out of errors and logs.
    secrets: Vec<crate::Secret>,
    /// The answer carries credentials (a token, a session id): its body is never logged.
    confidential: bool,
}

impl Request {
    /// A request for `url`.
    pub fn new(method: Method, url: Url) -> Self {
        Request {
            method,
            url,
            headers: HeaderMap::new(),
            body: None,
            idempotent: None,
            credentials: true,
            secrets: Vec::new(),
            confidential: false,
        }
    }

    /// A request for an endpoint.
    pub fn to(method: Method, endpoint: &Endpoint) -> Result<Self> {
        Ok(Request::new(method, endpoint.url()?))
    }

    /// `GET` an endpoint.
    pub fn get(endpoint: &Endpoint) -> Result<Self> {
        Request::to(Method::GET, endpoint)
    }

    /// `POST` to an endpoint (add a body with [`Request::json`]).
    pub fn post(endpoint: &Endpoint) -> Result<Self> {
        Request::to(Method::POST, endpoint)
    }

    /// A JSON body (`Content-Type: application/json`).
    pub fn json<T: serde::Serialize + ?Sized>(self, value: &T) -> Result<Self> {
        let body = serde_json::to_vec(value).map_err(|e| Error::Protocol {
            status: None,
            message: format!("cannot write the request body as JSON: {e}"),
            correlation_id: None,
            source: Some(std::sync::Arc::new(e)),
        })?;
        Ok(self.body(HeaderValue::from_static("application/json"), body))
    }

    /// A body of the given content type.
    pub fn body(mut self, content_type: HeaderValue, body: impl Into<Bytes>) -> Self {
        self.headers.insert(CONTENT_TYPE, content_type);
        self.body = Some(body.into());
        self
    }

    /// Sets a header (replacing one the pipeline would add, e.g. `Accept`).
    pub fn header(mut self, name: HeaderName, value: HeaderValue) -> Self {
        self.headers.insert(name, value);
        self
    }

    /// Declares whether the call may be repeated safely. By default GET, HEAD, PUT, DELETE and
    /// OPTIONS are, POST and PATCH are not; a read-only BO method called with POST (`GetByID`,
    /// `GetList`) can say `true` to be retried after ambiguous failures too.
    pub fn idempotent(mut self, idempotent: bool) -> Self {
        self.idempotent = Some(idempotent);
        self
    }

    /// Sends none of the connection's credentials, keys or licence headers: for calls to
    /// another server (an identity provider) or that carry their own (the token service).
    pub fn without_credentials(mut self) -> Self {
        self.credentials = false;
        self
    }

    /// Declares a value the body carries that must never show in an error or a log line (a
    /// client secret, a refresh token, a code verifier).
    pub fn secret(mut self, value: &crate::Secret) -> Self {
        self.secrets.push(value.clone());
        self
    }

    /// Declares that the call's bodies carry credentials (a token service's answer, a session
    /// id, an identity provider's tokens): they are never logged, at any verbosity.
    pub fn confidential(mut self) -> Self {
        self.confidential = true;
        self
    }

    /// The method.
    pub fn method(&self) -> &Method {
        &self.method
    }

    /// The address.
    pub fn url(&self) -> &Url {
        &self.url
    }

    fn is_idempotent(&self) -> bool {
        self.idempotent
            .unwrap_or_else(|| retry::is_idempotent(&self.method))
    }
}

impl fmt::Debug for Request {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        // Header values may be credentials; show names only.
        f.debug_struct("Request")
            .field("method", &self.method)
            .field("url", &self.url.as_str())
            .field("headers", &self.headers.keys().collect::<Vec<_>>())
            .field("body_bytes", &self.body.as_ref().map(Bytes::len))
            .field("idempotent", &self.is_idempotent())
            .field("credentials", &self.credentials)
            .finish()
    }
}

/// A successful (2xx) answer, read whole.
#[derive(Clone, Debug)]
pub struct Response {
    status: StatusCode,
    headers: HeaderMap,
    body: Bytes,
    url: Url,
    attempts: u32,
    request_id: String,
    /// A repeated DELETE found nothing to delete after an earlier attempt's answer was lost:
    /// the earlier attempt did the deletion (see [`Response::answer_lost`]).
    answer_lost: bool,
}

impl Response {
    /// Whether an earlier attempt's answer was lost and this answer stands for it: a DELETE
    /// repeated after a cut connection that found the row already gone (404) is the first
    /// attempt's success, answered here as 204.
    pub fn answer_lost(&self) -> bool {
        self.answer_lost
    }

    /// The status.
    pub fn status(&self) -> StatusCode {
        self.status
    }

    /// The headers.
    pub fn headers(&self) -> &HeaderMap {
        &self.headers
    }

    /// The body.
    pub fn body(&self) -> &Bytes {
        &self.body
    }

    /// The body as text (invalid UTF-8 replaced).
    pub fn text(&self) -> String {
        String::from_utf8_lossy(&self.body).into_owned()
    }

    /// The body parsed as JSON; a [`Error::Protocol`] keeping the parse error if it is not.
    pub fn json<T: serde::de::DeserializeOwned>(&self) -> Result<T> {
        serde_json::from_slice(&self.body).map_err(|e| Error::Protocol {
            status: Some(self.status.as_u16()),
            message: format!(
                "the answer from {} is not the JSON expected: {e}",
                self.url.path()
            ),
            correlation_id: errors::header_correlation_id(&self.headers),
            source: Some(std::sync::Arc::new(e)),
        })
    }

    /// The address that answered (after same-server redirects).
    pub fn url(&self) -> &Url {
        &self.url
    }

    /// How many attempts the call took (1 when the first succeeded; re-authentication counts).
    pub fn attempts(&self) -> u32 {
        self.attempts
    }

    /// The client request id sent as `x-correlation-id`.
    pub fn request_id(&self) -> &str {
        &self.request_id
    }
}

/// Builds a [`Pipeline`] with a chosen credential, retry policy or clock.
pub struct PipelineBuilder {
    options: HttpOptions,
    http: Option<reqwest::Client>,
    credential: Arc<dyn Credential>,
    clock: Arc<dyn Clock>,
    max_response_bytes: usize,
}

impl PipelineBuilder {
    /// The connection pool to use (a [`Client`](crate::Client)'s); by default a new one.
    pub(crate) fn http(mut self, http: reqwest::Client) -> Self {
        self.http = Some(http);
        self
    }

    /// The retry policy; by default the options'.
    pub fn retry(mut self, retry: RetryConfig) -> Self {
        self.options.retry = retry;
        self
    }

    /// The clock that backoff waits on and `Retry-After` dates are read against.
    pub fn clock(mut self, clock: Arc<dyn Clock>) -> Self {
        self.clock = clock;
        self
    }

    /// The most bytes of one answer to read (default [`DEFAULT_MAX_RESPONSE_BYTES`]).
    pub fn max_response_bytes(mut self, max: usize) -> Self {
        self.max_response_bytes = max;
        self
    }

    /// The pipeline; errors for options that cannot work (an unreadable certificate file, a bad
    /// proxy address).
    pub fn build(self) -> Result<Pipeline> {
        let o = self.options;
        let base = o.endpoints.base_url()?;
        Ok(Pipeline {
            inner: Arc::new(Inner {
                client: match self.http {
                    Some(http) => http,
                    None => client::build_client(&o)?,
                },
                endpoints: o.endpoints,
                base,
                credential: self.credential,
                api_key: o.api_key,
                claimed_license: o.claimed_license,
                session_id: RwLock::new(None),
                call_settings: o.call_settings,
                retry: o.retry,
                clock: self.clock,
                max_response_bytes: self.max_response_bytes,
                sent: std::sync::atomic::AtomicU64::new(0),
                pushbacks: std::sync::atomic::AtomicU64::new(0),
                told_to_wait: std::sync::atomic::AtomicBool::new(false),
            }),
        })
    }
}

struct Inner {
    client: reqwest::Client,
    endpoints: Endpoints,
    base: Url,
    credential: Arc<dyn Credential>,
    api_key: Option<Secret>,
    /// The GUID of the claimed licence, for the `License` header.
    claimed_license: String,
    session_id: RwLock<Option<Secret>>,
    call_settings: Option<HeaderValue>,
    retry: RetryConfig,
    clock: Arc<dyn Clock>,
    max_response_bytes: usize,
    /// Calls sent through [`Pipeline::send`] (see [`Pipeline::requests_sent`]).
    sent: std::sync::atomic::AtomicU64,
    /// Answers that asked for less load (see [`Pipeline::pushbacks`]).
    pushbacks: std::sync::atomic::AtomicU64,
    /// Whether the server has answered `Retry-After` (see [`Pipeline::told_to_wait`]).
    told_to_wait: std::sync::atomic::AtomicBool,
}

/// The HTTP pipeline of one connection. See the [module documentation](self).
#[derive(Clone)]
pub struct Pipeline {
    inner: Arc<Inner>,
}

impl fmt::Debug for Pipeline {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Pipeline")
            .field("base", &self.inner.endpoints.base())
            .field("credential", &self.inner.credential)
            .field("api_key", &self.inner.api_key)
            .field("claimed_license", &self.inner.claimed_license)
            .field("retry", &self.inner.retry)
            .finish_non_exhaustive()
    }
}

impl Pipeline {
    /// A pipeline with `options` that authenticates with `credential` (chosen by the caller: the
    /// pipeline never picks one from `AuthScheme`; a [`Client`](crate::Client) does, in `auth`).
    pub fn new(options: HttpOptions, credential: Arc<dyn Credential>) -> Result<Pipeline> {
        Pipeline::builder(options, credential).build()
    }

    /// A builder, to choose the retry policy or clock.
    pub fn builder(options: HttpOptions, credential: Arc<dyn Credential>) -> PipelineBuilder {
        PipelineBuilder {
            options,
            http: None,
            credential,
            clock: Arc::new(SystemClock),
            max_response_bytes: DEFAULT_MAX_RESPONSE_BYTES,
        }
    }

    /// The addresses of the connection's server.
    pub fn endpoints(&self) -> &Endpoints {
        &self.inner.endpoints
    }

    /// Uses an Epicor session (from `Ice.Lib.SessionModSvc/Login`) on every later call, in the
    /// `License` header; `None` goes back to a licence per call.
    pub fn set_session_id(&self, session_id: Option<Secret>) {
        *self
            .inner
            .session_id
            .write()
            .unwrap_or_else(PoisonError::into_inner) = session_id;
    }

    /// The session in use, if any.
    pub fn session_id(&self) -> Option<Secret> {
        self.inner
            .session_id
            .read()
            .unwrap_or_else(PoisonError::into_inner)
            .clone()
    }

    /// Sends `request`, retrying as the [`retry`] rules allow, and returns the 2xx answer or the
    /// typed error of the last attempt. Logs one line per call (see [`crate::logging`]).
    pub async fn send(&self, request: Request) -> Result<Response> {
        const TARGET: &str = "epicor_kinetic::http";
        let started = std::time::Instant::now();
        let method = request.method.clone();
        let shown = crate::logging::loggable_url(&request.url);
        let quiet = request.confidential || !request.secrets.is_empty();
        let bodies = !quiet && tracing::enabled!(target: TARGET, tracing::Level::TRACE);
        if bodies {
            if let Some(body) = &request.body {
                tracing::trace!(target: TARGET, "{method} {shown} request body: {}", self.loggable_body(body));
            }
        }
        let result = self.send_inner(request).await;
        // Counted when it is answered (or has failed): a call abandoned on the way (a page asked
        // ahead that the reader no longer needs) is not one the caller paid for.
        self.inner
            .sent
            .fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        let ms = started.elapsed().as_millis();
        match &result {
            Ok(r) => {
                tracing::info!(
                    target: TARGET,
                    "{method} {shown} -> {} in {ms} ms ({} attempt{})",
                    r.status.as_u16(),
                    r.attempts,
                    if r.attempts == 1 { "" } else { "s" }
                );
                if bodies {
                    tracing::trace!(target: TARGET, "{method} {shown} answer body: {}", self.loggable_body(&r.body));
                }
            }
            Err(e) => tracing::warn!(target: TARGET, "{method} {shown} failed after {ms} ms: {e}"),
        }
        result
    }

    /// How many calls this pipeline has made (each [`Pipeline::send`] that was answered or
    /// failed; retries of a call not counted again, a call dropped before its answer not at
    /// all): pages, `$count`, `$metadata`, methods, whatever asked for them. What `kinetic sql
    /// --stats` reports as requests.
    pub fn requests_sent(&self) -> u64 {
        self.inner.sent.load(std::sync::atomic::Ordering::Relaxed)
    }

    /// How many answers have asked this pipeline for less load: 429, 502, 503 and 504, and
    /// attempts that got no answer (timeouts), retried or not. A pager that chooses its own parallelism fetches fewer pages at once after one.
    pub fn pushbacks(&self) -> u64 {
        self.inner
            .pushbacks
            .load(std::sync::atomic::Ordering::Relaxed)
    }

    /// Whether the server has answered `Retry-After` on this pipeline: it paces its clients, so
    /// a pager that chooses its own parallelism sends one request at a time from then on.
    pub fn told_to_wait(&self) -> bool {
        self.inner
            .told_to_wait
            .load(std::sync::atomic::Ordering::Relaxed)
    }

    /// A body as it may be logged: text, cut at 4 KiB, with the connection's API key and
    /// session id blanked (a server may echo them).
    fn loggable_body(&self, body: &Bytes) -> String {
        let text = String::from_utf8_lossy(body);
        let cut = errors::truncate(&text, 4096);
        let secrets = self.secrets(&Request::new(Method::GET, self.inner.base.clone()), None);
        let refs: Vec<&str> = secrets.iter().map(|s| s.expose()).collect();
        let mut out = errors::scrub(cut, &refs);
        if cut.len() < text.len() {
            out.push_str(&format!(" ... ({} bytes in all)", text.len()));
        }
        out
    }

    async fn send_inner(&self, request: Request) -> Result<Response> {
        let inner = &self.inner;
        if request.credentials && !client::same_origin(&request.url, &inner.base) {
            return Err(Error::Protocol {
                status: None,
                message: format!(
                    "refusing to send the connection's credentials to {}, which is not the server in URL ({}); the address came from elsewhere (a next link?) and must not receive them",
                    url::origin(&request.url),
                    url::origin(&inner.base)
                ),
                correlation_id: None,
                source: None,
            });
        }
        let request_id = uuid::Uuid::new_v4().to_string();
        let idempotent = request.is_idempotent();
        let mut retry = RetryContext::new(&inner.retry, idempotent);
        let mut attempts = 0u32;
        let mut reauthenticated = false;
        loop {
            attempts += 1;
            let authorization = if request.credentials {
                inner.credential.authorization().await?
            } else {
                None
            };
            let secrets = self.secrets(&request, authorization.as_ref());
            let outcome = self
                .attempt(&request, &request_id, authorization.as_ref())
                .await;
            let (status, headers, body, url) = match outcome {
                Attempt::Answer {
                    status,
                    headers,
                    body,
                    url,
                } => (status, headers, body, url),
                Attempt::Failed { kind, error } => {
                    // No answer (a timeout, a dropped connection): load to shed too.
                    inner
                        .pushbacks
                        .fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                    match retry.after_failure(kind) {
                        Decision::Retry { delay, retry: n } => {
                            tracing::warn!(
                                target: "epicor_kinetic::http",
                                "{} {}: attempt {attempts} got no answer ({error}); retry {n} of {} in {} ms",
                                request.method,
                                crate::logging::loggable_url(&request.url),
                                retry.max_retries(),
                                delay.as_millis()
                            );
                            inner.clock.sleep(delay).await;
                            continue;
                        }
                        Decision::GiveUp => {
                            return Err(explain_give_up(error, kind, idempotent, attempts))
                        }
                    }
                }
            };
            if status.is_success() {
                return Ok(Response {
                    status,
                    headers,
                    body,
                    url,
                    attempts,
                    request_id,
                    answer_lost: false,
                });
            }
            if status == StatusCode::NOT_FOUND
                && retry.answer_lost()
                && request.method == Method::DELETE
            {
                // The first DELETE did its work and its answer was lost on the way back: the
                // row being gone now is that success, not "not found".
                return Ok(Response {
                    status: StatusCode::NO_CONTENT,
                    headers,
                    body: Bytes::new(),
                    url,
                    attempts,
                    request_id,
                    answer_lost: true,
                });
            }
            if status == StatusCode::UNAUTHORIZED && !reauthenticated {
                if let Some(rejected) = &authorization {
                    if inner.credential.invalidate(rejected) {
                        // A renewed credential may pass; a refused call was not processed, so
                        // this is safe for any method. Only once: a second 401 is final.
                        tracing::info!(
                            target: "epicor_kinetic::auth",
                            "the server refused the credential (401); renewing it and trying once more"
                        );
                        reauthenticated = true;
                        continue;
                    }
                }
            }
            let wait = retry::retry_after(&headers, inner.clock.now());
            if matches!(status.as_u16(), 429 | 502 | 503 | 504) {
                inner
                    .pushbacks
                    .fetch_add(1, std::sync::atomic::Ordering::Relaxed);
            }
            if wait.is_some() {
                inner
                    .told_to_wait
                    .store(true, std::sync::atomic::Ordering::Relaxed);
            }
            let secret_refs: Vec<&str> = secrets.iter().map(|s| s.expose()).collect();
            // A wait longer than `max_retry_after` gives up too: the caller gets the server's
            // wait in the error rather than a call blocked for minutes.
            if let Decision::Retry { delay, retry: n } = retry.after_status(status.as_u16(), wait) {
                tracing::warn!(
                    target: "epicor_kinetic::http",
                    "{} {}: attempt {attempts} answered {}; retry {n} of {} in {} ms",
                    request.method,
                    crate::logging::loggable_url(&request.url),
                    status.as_u16(),
                    retry.max_retries(),
                    delay.as_millis()
                );
                inner.clock.sleep(delay).await;
                continue;
            }
            return Err(errors::error_from_answer(
                status.as_u16(),
                &headers,
                &body,
                wait,
                &secret_refs,
            ));
        }
    }

    /// The values that must never appear in an error message: the credential, its token, the API
    /// key and the session id.
    fn secrets(&self, request: &Request, authorization: Option<&Authorization>) -> Vec<Secret> {
        let mut out = request.secrets.clone();
        if let Some(a) = authorization {
            out.push(Secret::new(a.expose()));
            if let Some((_, token)) = a.expose().split_once(' ') {
                out.push(Secret::new(token.trim()));
            }
        }
        if let Some(k) = &self.inner.api_key {
            out.push(k.clone());
        }
        if let Some(s) = self.session_id() {
            out.push(s);
        }
        out
    }

    /// The headers of one attempt.
    fn headers(
        &self,
        request: &Request,
        request_id: &str,
        authorization: Option<&Authorization>,
    ) -> Result<HeaderMap> {
        let inner = &self.inner;
        let mut headers = HeaderMap::new();
        headers.insert(ACCEPT, HeaderValue::from_static("application/json"));
        if let Ok(id) = HeaderValue::from_str(request_id) {
            headers.insert(REQUEST_ID_HEADER, id);
        }
        if request.credentials {
            if let Some(a) = authorization {
                let mut value = HeaderValue::from_str(a.expose()).map_err(|_| {
                    Error::invalid_settings(
                        "Password",
                        "the credentials hold a character that cannot go in an HTTP header",
                        "check User and Password (or the token) for control characters",
                    )
                })?;
                value.set_sensitive(true);
                headers.insert(AUTHORIZATION, value);
            }
            let api = inner.endpoints.api_of(&request.url);
            if let (Some(Api::V2), Some(key)) = (api, &inner.api_key) {
                let mut value = HeaderValue::from_str(key.expose()).map_err(|_| {
                    Error::invalid_settings(
                        "ApiKey",
                        "`ApiKey` holds a character that cannot go in an HTTP header",
                        "copy the key again from Epicor's API Key Maintenance",
                    )
                })?;
                value.set_sensitive(true);
                headers.insert("x-api-key", value);
            }
            if matches!(api, Some(Api::V1 | Api::V2)) {
                let session = self.session_id();
                if let Some(license) = license_header(&inner.claimed_license, session.as_ref()) {
                    headers.insert("License", license);
                }
                if let Some(call_settings) = &inner.call_settings {
                    headers.insert("CallSettings", call_settings.clone());
                }
            }
        }
        for (name, value) in &request.headers {
            headers.insert(name.clone(), value.clone());
        }
        Ok(headers)
    }

    /// One attempt: send, then read the whole answer.
    async fn attempt(
        &self,
        request: &Request,
        request_id: &str,
        authorization: Option<&Authorization>,
    ) -> Attempt {
        let headers = match self.headers(request, request_id, authorization) {
            Ok(h) => {
                tracing::debug!(
                    target: "epicor_kinetic::http",
                    "{} {} (request id {request_id}) with headers: {}",
                    request.method,
                    crate::logging::loggable_url(&request.url),
                    h.keys().map(|k| k.as_str()).collect::<Vec<_>>().join(", ")
                );
                h
            }
            Err(error) => {
                return Attempt::Failed {
                    kind: Failure::Permanent,
                    error,
                }
            }
        };
        let mut builder = self
            .inner
            .client
            .request(request.method.clone(), request.url.clone())
            .headers(headers);
        if let Some(body) = &request.body {
            builder = builder.body(body.clone());
        }
        let mut response = match builder.send().await {
            Ok(r) => r,
            Err(e) => return transport_failure(e, request_id),
        };
        let status = response.status();
        let headers = response.headers().clone();
        let url = response.url().clone();
        let max = self.inner.max_response_bytes;
        if response
            .content_length()
            .is_some_and(|n| n > u64::try_from(max).unwrap_or(u64::MAX))
        {
            return too_large(status, &headers, max);
        }
        let mut body = Vec::new();
        loop {
            match response.chunk().await {
                Ok(Some(chunk)) => {
                    if body.len().saturating_add(chunk.len()) > max {
                        return too_large(status, &headers, max);
                    }
                    body.extend_from_slice(&chunk);
                }
                Ok(None) => break,
                Err(e) => {
                    // The head arrived, the body did not: the call ran (or may have).
                    let mut failure = transport_failure(e, request_id);
                    if let Attempt::Failed {
                        kind,
                        error:
                            Error::Transport {
                                status: s,
                                correlation_id,
                                ..
                            },
                    } = &mut failure
                    {
                        *kind = Failure::Ambiguous;
                        *s = Some(status.as_u16());
                        *correlation_id = errors::header_correlation_id(&headers);
                    }
                    return failure;
                }
            }
        }
        Attempt::Answer {
            status,
            headers,
            body: Bytes::from(body),
            url,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const WEB_SERVICE: &str = "00000003-9439-4B30-A6F4-6D2FD4B9FD0F";

    fn options(url: &str, api: Api, company: Option<&str>) -> HttpOptions {
        let endpoints = Endpoints::new(url, "K", api, company.map(str::to_owned))
            .unwrap_or_else(|e| panic!("{e}"));
        HttpOptions::new(endpoints, WEB_SERVICE)
    }

    fn basic() -> Arc<Basic> {
        Arc::new(Basic::new("u", &Secret::new("p")))
    }

    #[test]
    fn headers_follow_the_address() {
        let mut o = options("https://h", Api::V2, Some("EPIC06"));
        o.api_key = Some(Secret::new("key-1"));
        o.call_settings =
            call_settings_header(Some("EPIC06"), None, None).unwrap_or_else(|e| panic!("{e}"));
        let p = Pipeline::new(o, basic()).unwrap_or_else(|e| panic!("{e}"));
        let auth = Authorization::basic("u", &Secret::new("p"));
        let headers_for = |e: &Endpoint| {
            let r = Request::get(e).unwrap_or_else(|e| panic!("{e}"));
            p.headers(&r, "rid", Some(&auth))
                .unwrap_or_else(|e| panic!("{e}"))
        };
        let ep = p.endpoints();
        let v2 = headers_for(&ep.v2("EPIC06", "Erp.BO.PartSvc"));
        assert_eq!(v2.get("x-api-key").map(|v| v.is_sensitive()), Some(true));
        assert!(v2.get("License").is_some() && v2.get("CallSettings").is_some());
        assert_eq!(
            v2.get("License").and_then(|v| v.to_str().ok()),
            Some(r#"{"ClaimedLicense":"00000003-9439-4B30-A6F4-6D2FD4B9FD0F"}"#)
        );
        assert_eq!(
            v2.get(REQUEST_ID_HEADER).and_then(|v| v.to_str().ok()),
            Some("rid")
        );
        assert_eq!(v2.get(AUTHORIZATION).map(|v| v.is_sensitive()), Some(true));
        let v1 = headers_for(&ep.v1("Erp.BO.PartSvc"));
        assert!(v1.get("x-api-key").is_none() && v1.get("License").is_some());
        let token = headers_for(&ep.token_resource());
        assert!(token.get("License").is_none() && token.get(AUTHORIZATION).is_some());
        let bare = Request::get(&ep.v2("EPIC06", "S"))
            .map(Request::without_credentials)
            .unwrap_or_else(|e| panic!("{e}"));
        let bare = p
            .headers(&bare, "rid", Some(&auth))
            .unwrap_or_else(|e| panic!("{e}"));
        assert!(bare.get(AUTHORIZATION).is_none() && bare.get("x-api-key").is_none());
        assert!(bare.get("License").is_none() && bare.get(ACCEPT).is_some());
        // Nothing secret in Debug output.
        let shown = format!("{p:?}");
        assert!(!shown.contains("key-1"), "{shown}");
    }

    #[tokio::test]
    async fn credentials_never_go_to_another_server() {
        let p = Pipeline::new(options("http://127.0.0.1:9", Api::V1, None), basic())
            .unwrap_or_else(|e| panic!("{e}"));
        let elsewhere =
            Url::parse("http://localhost:9/K/api/v1/").unwrap_or_else(|e| panic!("{e}"));
        let err = p.send(Request::new(Method::GET, elsewhere)).await.err();
        assert!(matches!(err, Some(Error::Protocol { .. })), "{err:?}");
        assert!(err.is_some_and(|e| e.to_string().contains("refusing to send")));
    }
}
