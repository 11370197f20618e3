//! What authenticates a request: the [`Credential`] hook the pipeline calls before every attempt.
//!
//! The pipeline asks the credential for an [`Authorization`] (the `Authorization` header's value)
//! before each attempt, and tells it which one the server refused when an answer is 401. A
//! credential that can get a fresh one (a token provider) drops the refused value and says so;
//! the pipeline then retries once. A credential that cannot (Basic, a fixed token) says no, and the
//! 401 is returned at once: sending a wrong password twice only brings an account closer to being
//! locked out.

use std::fmt;

use crate::clock::BoxFuture;
use crate::error::Result;
use crate::secret::Secret;

/// The value of one request's `Authorization` header, e.g. `Basic bWFuYWdlcjo...` or
/// `Bearer eyJ...`. Redacted when printed.
#[derive(Clone, PartialEq, Eq)]
pub struct Authorization(Secret);

impl Authorization {
    /// `Basic base64(user:password)`.
    pub fn basic(user: &str, password: &Secret) -> Self {
        let mut raw = zeroize::Zeroizing::new(String::with_capacity(
            user.len() + password.expose().len() + 1,
        ));
        raw.push_str(user);
        raw.push(':');
        raw.push_str(password.expose());
        let encoded = crate::encoding::base64(raw.as_bytes());
        Authorization(Secret::new(format!("Basic {encoded}")))
    }

    /// `Bearer {token}`.
    pub fn bearer(token: &Secret) -> Self {
        Authorization(Secret::new(format!("Bearer {}", token.expose())))
    }

    /// A header value given whole (another scheme).
    pub fn raw(value: Secret) -> Self {
        Authorization(value)
    }

    /// The header value. Only the pipeline should need this.
    pub fn expose(&self) -> &str {
        self.0.expose()
    }
}

impl fmt::Debug for Authorization {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        // Show the scheme, which helps debugging and reveals nothing.
        let scheme = self.0.expose().split(' ').next().unwrap_or_default();
        write!(f, "Authorization({scheme} {})", crate::secret::REDACTED)
    }
}

/// What authenticates a request. Object safe: the pipeline holds an `Arc<dyn Credential>`.
///
/// Implementations: [`Basic`], [`StaticBearer`], [`Anonymous`]; token flows (Epicor's token
/// service, Azure AD, OpenID Connect) implement it over a token cache.
///
/// ```
/// use epicor_kinetic::clock::BoxFuture;
/// use epicor_kinetic::http::{Authorization, Credential};
/// use epicor_kinetic::{Result, Secret};
///
/// /// A token from somewhere else, fetched again after a 401.
/// #[derive(Debug)]
/// struct FromVault;
///
/// impl Credential for FromVault {
///     fn authorization(&self) -> BoxFuture<'_, Result<Option<Authorization>>> {
///         Box::pin(async { Ok(Some(Authorization::bearer(&Secret::new("token-from-vault")))) })
///     }
///     fn invalidate(&self, _rejected: &Authorization) -> bool {
///         true // the next call fetches again
///     }
/// }
/// ```
pub trait Credential: Send + Sync + fmt::Debug {
    /// The `Authorization` header for the next attempt, or `None` to send none. May sign in or
    /// refresh a token first. Errors (a refused sign-in) end the call.
    fn authorization(&self) -> BoxFuture<'_, Result<Option<Authorization>>>;

    /// The server refused `rejected` with a 401. Drop it if it is still the current value (another
    /// call may have renewed it already) and return whether [`Credential::authorization`] may now
    /// give a different, acceptable one; `true` makes the pipeline retry the call once.
    fn invalidate(&self, rejected: &Authorization) -> bool;
}

/// HTTP Basic with a user and password on every call (`AuthScheme=Basic`).
#[derive(Clone, Debug)]
pub struct Basic {
    header: Authorization,
}

impl Basic {
    /// Basic credentials for `user` and `password`.
    pub fn new(user: &str, password: &Secret) -> Self {
        Basic {
            header: Authorization::basic(user, password),
        }
    }
}

impl Credential for Basic {
    fn authorization(&self) -> BoxFuture<'_, Result<Option<Authorization>>> {
        let header = self.header.clone();
        Box::pin(async move { Ok(Some(header)) })
    }

    fn invalidate(&self, _rejected: &Authorization) -> bool {
        // The same password would be refused again (and count towards a lockout).
        false
    }
}

/// A bearer token given as is (`OAuthAccessToken` with `InitiateOAuth=OFF`); never renewed.
#[derive(Clone, Debug)]
pub struct StaticBearer {
    header: Authorization,
}

impl StaticBearer {
    /// A credential sending `Bearer {token}`.
    pub fn new(token: &Secret) -> Self {
        StaticBearer {
            header: Authorization::bearer(token),
        }
    }
}

impl Credential for StaticBearer {
    fn authorization(&self) -> BoxFuture<'_, Result<Option<Authorization>>> {
        let header = self.header.clone();
        Box::pin(async move { Ok(Some(header)) })
    }

    fn invalidate(&self, _rejected: &Authorization) -> bool {
        false
    }
}

/// No `Authorization` header (`AuthScheme=None`: an API key alone, or an open server).
#[derive(Clone, Copy, Debug, Default)]
pub struct Anonymous;

impl Credential for Anonymous {
    fn authorization(&self) -> BoxFuture<'_, Result<Option<Authorization>>> {
        Box::pin(async { Ok(None) })
    }

    fn invalidate(&self, _rejected: &Authorization) -> bool {
        false
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn block<T>(f: BoxFuture<'_, T>) -> T {
        match tokio::runtime::Builder::new_current_thread().build() {
            Ok(rt) => rt.block_on(f),
            Err(e) => panic!("{e}"),
        }
    }

    #[test]
    fn basic_encodes_user_and_password() {
        let basic = Basic::new("manager", &Secret::new("Epicor123!"));
        let header = block(basic.authorization()).ok().flatten();
        assert_eq!(
            header.as_ref().map(Authorization::expose),
            Some("Basic bWFuYWdlcjpFcGljb3IxMjMh")
        );
        let shown = format!("{header:?} {basic:?}");
        assert!(!shown.contains("bWFu"), "{shown}");
        assert!(shown.contains("Basic [redacted]"), "{shown}");
        assert!(header.is_some_and(|h| !basic.invalidate(&h)));
    }

    #[test]
    fn bearer_and_anonymous() {
        let bearer = StaticBearer::new(&Secret::new("tok"));
        let header = block(bearer.authorization()).ok().flatten();
        assert_eq!(
            header.as_ref().map(Authorization::expose),
            Some("Bearer tok")
        );
        assert!(block(Anonymous.authorization()).is_ok_and(|h| h.is_none()));
    }
}
