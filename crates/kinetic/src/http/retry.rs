//! When to try a call again, and how long to wait first.
//!
//! # The rules
//!
//! A call is tried at most `1 + max_retries` times. Before another attempt:
//!
//! | what happened | idempotent call (GET, HEAD, PUT, DELETE, OPTIONS) | other calls (POST, PATCH) |
//! |---|---|---|
//! | no connection was made (refused, DNS, connect timeout) | retried | retried: nothing was sent |
//! | 429 Too Many Requests | retried | retried: the server refused it unprocessed |
//! | 503 with `Retry-After` (no licence free, maintenance) | retried | retried: refused unprocessed |
//! | 503 without `Retry-After`, 502, 504 | retried | **not** retried: a gateway may have passed it on |
//! | timeout after sending, connection dropped mid-answer | retried | **not** retried: it may have run |
//! | TLS certificate refused, redirect refused, other 4xx/5xx | not retried | not retried |
//!
//! 401 is handled apart: one retry after the credential renews itself (see
//! [`Credential::invalidate`](super::Credential::invalidate)), for any method, since a refused
//! call was not processed.
//!
//! # The waits
//!
//! Decorrelated jitter (as in AWS's architecture blog, and object_store): each wait is drawn
//! uniformly from `[base, 3 × previous wait]`, capped at `max_delay`. Random waits keep many
//! clients that failed together from coming back together. A `Retry-After` (seconds or an HTTP
//! date) is a floor: the wait is at least that long. A `Retry-After` longer than
//! `max_retry_after` ends the retries at once with [`Error::Throttled`](crate::Error::Throttled)
//! carrying it, rather than blocking the caller for minutes or coming back early.

use std::time::{Duration, SystemTime};

use ::http::header::{HeaderMap, RETRY_AFTER};
use ::http::Method;
use rand::Rng;

/// Retry settings of a [`Pipeline`](super::Pipeline).
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub struct RetryConfig {
    /// Attempts after the first (`MaxRetries`, default 3).
    pub max_retries: u32,
    /// The shortest wait, and the first wait's lower bound.
    pub base_delay: Duration,
    /// The longest wait the backoff chooses.
    pub max_delay: Duration,
    /// The longest `Retry-After` the pipeline waits for; a longer one ends the retries.
    pub max_retry_after: Duration,
}

impl Default for RetryConfig {
    fn default() -> Self {
        RetryConfig {
            max_retries: 3,
            base_delay: Duration::from_millis(100),
            max_delay: Duration::from_secs(10),
            max_retry_after: Duration::from_secs(60),
        }
    }
}

impl RetryConfig {
    /// Sets the number of retries.
    pub fn with_max_retries(mut self, max_retries: u32) -> Self {
        self.max_retries = max_retries;
        self
    }

    /// Sets the backoff's base and cap.
    pub fn with_delays(mut self, base: Duration, max: Duration) -> Self {
        self.base_delay = base;
        self.max_delay = max.max(base);
        self
    }
}

/// Decorrelated jitter: each wait uniform in `[base, 3 × previous]`, capped.
#[derive(Debug)]
pub(crate) struct Backoff {
    base: Duration,
    cap: Duration,
    previous: Duration,
}

impl Backoff {
    pub(crate) fn new(config: &RetryConfig) -> Self {
        Backoff {
            base: config.base_delay,
            cap: config.max_delay.max(config.base_delay),
            previous: config.base_delay,
        }
    }

    /// The next wait.
    pub(crate) fn next_delay(&mut self) -> Duration {
        let low = self.base.as_nanos();
        let high = self.previous.saturating_mul(3).as_nanos().max(low);
        let drawn = if high > low {
            rand::rng().random_range(low..=high)
        } else {
            low
        };
        let delay = Duration::from_nanos(u64::try_from(drawn).unwrap_or(u64::MAX)).min(self.cap);
        self.previous = delay;
        delay
    }
}

/// Whether `method` may be repeated without changing the outcome (RFC 9110 §9.2.2).
pub fn is_idempotent(method: &Method) -> bool {
    matches!(
        *method,
        Method::GET | Method::HEAD | Method::PUT | Method::DELETE | Method::OPTIONS | Method::TRACE
    )
}

/// `Retry-After` as a wait from `now`: delay-seconds or an HTTP date (a past date is zero).
pub fn retry_after(headers: &HeaderMap, now: SystemTime) -> Option<Duration> {
    let value = headers.get(RETRY_AFTER)?.to_str().ok()?.trim();
    if let Ok(seconds) = value.parse::<u64>() {
        return Some(Duration::from_secs(seconds));
    }
    let at = httpdate::parse_http_date(value).ok()?;
    Some(at.duration_since(now).unwrap_or(Duration::ZERO))
}

/// Whether an error answer may be tried again, by its status, whether the call is idempotent, and
/// whether the answer carried `Retry-After`.
pub(crate) fn status_is_retryable(status: u16, idempotent: bool, has_retry_after: bool) -> bool {
    match status {
        // Refused before it ran: safe for any method.
        429 => true,
        503 if has_retry_after => true,
        // A gateway's failure: the call may or may not have reached Epicor.
        502..=504 => idempotent,
        _ => false,
    }
}

/// What an attempt that got no answer means for retrying.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Failure {
    /// No connection was made: nothing was sent, any call may be retried.
    NotSent,
    /// The call may have reached the server (timeout or connection lost after sending, answer cut
    /// short): only idempotent calls are retried.
    Ambiguous,
    /// Retrying cannot help (refused certificate, refused redirect).
    Permanent,
}

/// What to do after one failed attempt.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Decision {
    /// Wait `delay`, then make retry number `retry` (counted from 1).
    Retry { delay: Duration, retry: u32 },
    /// Stop: the last failure is the call's answer.
    GiveUp,
}

/// One call's retry state, asked once per failed attempt (as object_store's `RetryContext`): the
/// table above as code, the backoff, and whether an answer may have been lost on the way back.
/// The pipeline only sends, sleeps and reports; every "try again?" is answered here.
#[derive(Debug)]
pub(crate) struct RetryContext<'a> {
    config: &'a RetryConfig,
    backoff: Backoff,
    idempotent: bool,
    retries: u32,
    answer_lost: bool,
}

impl<'a> RetryContext<'a> {
    /// The state before the first attempt of a call (`idempotent`: see [`is_idempotent`]).
    pub(crate) fn new(config: &'a RetryConfig, idempotent: bool) -> Self {
        RetryContext {
            config,
            backoff: Backoff::new(config),
            idempotent,
            retries: 0,
            answer_lost: false,
        }
    }

    /// After an attempt that got no answer.
    pub(crate) fn after_failure(&mut self, kind: Failure) -> Decision {
        let retryable = match kind {
            Failure::NotSent => true,
            Failure::Ambiguous => self.idempotent,
            Failure::Permanent => false,
        };
        if !retryable || self.exhausted() {
            return Decision::GiveUp;
        }
        self.answer_lost |= kind == Failure::Ambiguous;
        let delay = self.backoff.next_delay();
        self.retry(delay)
    }

    /// After an error answer (not 401, which the credential handles) with its `Retry-After`, if
    /// any. A `Retry-After` beyond `max_retry_after` stops at once: the caller gets the server's
    /// wait rather than a blocked call.
    pub(crate) fn after_status(&mut self, status: u16, retry_after: Option<Duration>) -> Decision {
        if self.exhausted()
            || !status_is_retryable(status, self.idempotent, retry_after.is_some())
            || retry_after.is_some_and(|w| w > self.config.max_retry_after)
        {
            return Decision::GiveUp;
        }
        let delay = self
            .backoff
            .next_delay()
            .max(retry_after.unwrap_or_default());
        self.retry(delay)
    }

    /// Whether an earlier attempt may have reached the server and lost its answer (so a later
    /// DELETE's 404 may be that attempt's success).
    pub(crate) fn answer_lost(&self) -> bool {
        self.answer_lost
    }

    /// The most retries of one call.
    pub(crate) fn max_retries(&self) -> u32 {
        self.config.max_retries
    }

    fn exhausted(&self) -> bool {
        self.retries >= self.config.max_retries
    }

    fn retry(&mut self, delay: Duration) -> Decision {
        self.retries += 1;
        Decision::Retry {
            delay,
            retry: self.retries,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use ::http::header::HeaderValue;

    #[test]
    fn backoff_stays_within_its_bounds_and_grows() {
        let config = RetryConfig::default();
        for _ in 0..200 {
            let mut b = Backoff::new(&config);
            let mut previous = config.base_delay;
            for _ in 0..12 {
                let d = b.next_delay();
                assert!(d >= config.base_delay, "{d:?}");
                assert!(d <= config.max_delay, "{d:?}");
                assert!(d <= previous * 3, "{d:?} after {previous:?}");
                previous = d;
            }
        }
        // Over many draws the waits reach the cap region.
        let mut b = Backoff::new(&config);
        let longest = (0..50).map(|_| b.next_delay()).max().unwrap_or_default();
        assert!(longest > Duration::from_secs(1), "{longest:?}");
    }

    #[test]
    fn zero_delays_do_not_panic() {
        let config = RetryConfig::default().with_delays(Duration::ZERO, Duration::ZERO);
        let mut b = Backoff::new(&config);
        assert_eq!(b.next_delay(), Duration::ZERO);
        let huge = RetryConfig::default().with_delays(Duration::MAX, Duration::MAX);
        let mut b = Backoff::new(&huge);
        let _ = b.next_delay();
        let _ = b.next_delay();
    }

    #[test]
    fn retry_after_in_seconds_and_dates() {
        let now = SystemTime::UNIX_EPOCH + Duration::from_secs(1_735_689_600); // 2025-01-01
        let with = |v: &str| {
            let mut h = HeaderMap::new();
            if let Ok(v) = HeaderValue::from_str(v) {
                h.insert(RETRY_AFTER, v);
            }
            retry_after(&h, now)
        };
        assert_eq!(with("2"), Some(Duration::from_secs(2)));
        assert_eq!(with(" 0 "), Some(Duration::ZERO));
        assert_eq!(
            with("Wed, 01 Jan 2025 00:00:30 GMT"),
            Some(Duration::from_secs(30))
        );
        assert_eq!(with("Tue, 31 Dec 2024 23:00:00 GMT"), Some(Duration::ZERO));
        assert_eq!(with("-1"), None);
        assert_eq!(with("soon"), None);
        assert_eq!(retry_after(&HeaderMap::new(), now), None);
    }

    #[test]
    fn which_statuses_are_retried() {
        for idempotent in [true, false] {
            assert!(status_is_retryable(429, idempotent, false));
            assert!(status_is_retryable(503, idempotent, true));
            assert!(!status_is_retryable(400, idempotent, true));
            assert!(!status_is_retryable(500, idempotent, false));
            assert!(!status_is_retryable(401, idempotent, false));
        }
        for status in [502, 503, 504] {
            assert!(status_is_retryable(status, true, false));
            assert!(!status_is_retryable(status, false, false));
        }
        assert!(is_idempotent(&Method::PUT));
        assert!(!is_idempotent(&Method::POST));
        assert!(!is_idempotent(&Method::PATCH));
    }

    #[test]
    fn the_context_decides_each_failure_by_the_table() {
        let config = RetryConfig::default().with_max_retries(2);
        // Not idempotent: a lost answer stops at once, an unsent call is retried.
        let mut post = RetryContext::new(&config, false);
        assert_eq!(post.after_failure(Failure::Ambiguous), Decision::GiveUp);
        assert!(matches!(
            post.after_failure(Failure::NotSent),
            Decision::Retry { retry: 1, .. }
        ));
        assert_eq!(post.after_status(502, None), Decision::GiveUp);
        assert!(matches!(
            post.after_status(429, None),
            Decision::Retry { retry: 2, .. }
        ));
        // Retries spent: nothing more.
        assert_eq!(post.after_failure(Failure::NotSent), Decision::GiveUp);
        assert!(!post.answer_lost());

        let mut get = RetryContext::new(&config, true);
        assert_eq!(get.after_failure(Failure::Permanent), Decision::GiveUp);
        assert!(matches!(
            get.after_failure(Failure::Ambiguous),
            Decision::Retry { retry: 1, .. }
        ));
        assert!(get.answer_lost());
        // Retry-After is a floor; beyond max_retry_after it ends the retries.
        match get.after_status(503, Some(Duration::from_secs(30))) {
            Decision::Retry { delay, retry } => {
                assert_eq!(retry, 2);
                assert!(delay >= Duration::from_secs(30), "{delay:?}");
            }
            other => panic!("{other:?}"),
        }
        let mut again = RetryContext::new(&config, true);
        assert_eq!(
            again.after_status(429, Some(Duration::from_secs(61))),
            Decision::GiveUp
        );
        assert_eq!(again.max_retries(), 2);
    }
}
