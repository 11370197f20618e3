//! Tokens: what a token is, where tokens come from ([`TokenSource`]) and the cache every token
//! flow goes through ([`TokenCache`]: refreshed ahead of expiry, fetched once however many
//! callers ask at the same time, dropped on a 401). A leaf: it knows no protocol, no settings and
//! no store; `oauth/` and Epicor's token service are sources, `store/` keeps tokens between runs,
//! and `auth/` puts them together.

use std::time::{Duration, SystemTime};

use crate::clock::from_unix_seconds;
use crate::Secret;

pub mod cache;

pub use cache::{RefreshPolicy, TokenCache, TokenSource};

/// An access token and what came with it.
///
/// `Debug` shows the token type, times and scope; the access, refresh and id tokens print as
/// `[redacted]` (they are [`Secret`]s), so a `Token` can be logged safely.
///
/// ```
/// use epicor_kinetic::token::Token;
///
/// let token = Token::bearer("eyJ-secret").with_expires_at(1_900_000_000).with_refresh_token("rt-1");
/// assert_eq!(token.access_token.expose(), "eyJ-secret");
/// assert!(!format!("{token:?}").contains("eyJ"));
/// assert!(!format!("{token:?}").contains("rt-1"));
/// ```
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub struct Token {
    /// The token sent on requests.
    pub access_token: Secret,
    /// How it is sent: `Bearer` for every flow the connector knows.
    pub token_type: String,
    /// When it stops being valid, in seconds since the Unix epoch; `None` when the issuer did not
    /// say (the token is used until a request is refused).
    pub expires_at: Option<u64>,
    /// How many seconds after `obtained_at` the issuer advises refreshing (Entra's `refresh_in`),
    /// when it advises at all.
    pub refresh_in: Option<u64>,
    /// When the token was obtained, in seconds since the Unix epoch (CData's
    /// `OAuthTokenTimestamp`); `None` when unknown, and then the time the cache received it is
    /// used.
    pub obtained_at: Option<u64>,
    /// The token that gets the next access token, for flows that have one.
    pub refresh_token: Option<Secret>,
    /// The scopes granted, space separated, when the issuer said.
    pub scope: Option<String>,
    /// The OpenID Connect id token, for flows that sign a person in.
    pub id_token: Option<Secret>,
}

/// The longest token lifetime taken from a server (a year and a month): a larger `expires_in`,
/// `refresh_in` or `ExpiresIn` is read as this, so no answer can overflow the arithmetic or keep a
/// token "valid" for ever.
pub const MAX_LIFETIME_SECS: u64 = 400 * 86_400;

/// The expiry of a token obtained at `obtained_at` (Unix seconds) that a server says lives
/// `lifetime` seconds, the lifetime clamped to [`MAX_LIFETIME_SECS`].
pub fn expiry_after(obtained_at: u64, lifetime: u64) -> u64 {
    obtained_at.saturating_add(lifetime.min(MAX_LIFETIME_SECS))
}

impl Token {
    /// A bearer token with nothing else known about it.
    pub fn bearer(access_token: impl Into<Secret>) -> Self {
        Token {
            access_token: access_token.into(),
            token_type: "Bearer".to_owned(),
            expires_at: None,
            refresh_in: None,
            obtained_at: None,
            refresh_token: None,
            scope: None,
            id_token: None,
        }
    }

    /// The same token, expiring at `unix_seconds`.
    pub fn with_expires_at(mut self, unix_seconds: u64) -> Self {
        self.expires_at = Some(unix_seconds);
        self
    }

    /// The same token, obtained at `unix_seconds`.
    pub fn with_obtained_at(mut self, unix_seconds: u64) -> Self {
        self.obtained_at = Some(unix_seconds);
        self
    }

    /// The same token, with the issuer's advice to refresh `seconds` after it was obtained.
    pub fn with_refresh_in(mut self, seconds: u64) -> Self {
        self.refresh_in = Some(seconds);
        self
    }

    /// The same token, with a refresh token.
    pub fn with_refresh_token(mut self, refresh_token: impl Into<Secret>) -> Self {
        self.refresh_token = Some(refresh_token.into());
        self
    }

    /// When the token stops being valid, if known.
    pub fn expiry(&self) -> Option<SystemTime> {
        self.expires_at.map(from_unix_seconds)
    }

    /// Whether the token has expired at `now`. A token without an expiry never has.
    pub fn is_expired(&self, now: SystemTime) -> bool {
        self.expiry().is_some_and(|at| now >= at)
    }

    /// How long the token stays valid after `now`; `None` without an expiry, zero once expired.
    pub fn remaining(&self, now: SystemTime) -> Option<Duration> {
        self.expiry()
            .map(|at| at.duration_since(now).unwrap_or(Duration::ZERO))
    }
}

/// A token's lifetime as it may be logged: seconds left, never the value.
pub(crate) fn expiry_text(token: &Token, now: SystemTime) -> String {
    match token.remaining(now) {
        Some(d) => format!("{} s", d.as_secs()),
        None => "no stated expiry".into(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::clock::unix_seconds;

    #[test]
    fn expiry_arithmetic() {
        let t = Token::bearer("a").with_expires_at(1_000);
        assert!(!t.is_expired(from_unix_seconds(999)));
        assert!(t.is_expired(from_unix_seconds(1_000)));
        assert_eq!(
            t.remaining(from_unix_seconds(400)),
            Some(Duration::from_secs(600))
        );
        assert_eq!(t.remaining(from_unix_seconds(2_000)), Some(Duration::ZERO));
        let forever = Token::bearer("a");
        assert!(!forever.is_expired(from_unix_seconds(u32::MAX.into())));
        assert_eq!(forever.remaining(SystemTime::now()), None);
        assert_eq!(
            unix_seconds(t.expiry().unwrap_or(SystemTime::UNIX_EPOCH)),
            1_000
        );
    }

    #[test]
    fn debug_never_shows_the_tokens() {
        let mut t = Token::bearer("access-AAA")
            .with_refresh_token("refresh-BBB")
            .with_expires_at(5);
        t.id_token = Some(Secret::new("id-CCC"));
        t.scope = Some("api://x/.default".into());
        let shown = format!("{t:?} {t:#?}");
        for secret in ["AAA", "BBB", "CCC"] {
            assert!(!shown.contains(secret), "{shown}");
        }
        assert!(shown.contains("api://x/.default"));
        assert!(shown.contains("Bearer"));
    }
}
