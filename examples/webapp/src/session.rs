//! The session cookie: who is signed in and their tokens to this app, encrypted and authenticated
//! (XChaCha20-Poly1305 under the app's cookie key, the cookie's name bound in), so the browser
//! holds it but can neither read nor change it. Nothing else about a session is kept on the
//! server: any instance sharing the key serves any user, and a Redis outage loses no session.

use base64::Engine;
use chacha20poly1305::aead::{Aead, KeyInit, Payload};
use chacha20poly1305::{XChaCha20Poly1305, XNonce};
use serde::{de::DeserializeOwned, Deserialize, Serialize};
use zeroize::Zeroize;

/// The session cookie's name.
pub const SESSION: &str = "kinetic_session";
/// The cookie of a sign-in in progress (state, PKCE verifier, nonce).
pub const PENDING: &str = "kinetic_signin";
/// The cookie carrying an identity provider's claims challenge (Conditional Access asking for a
/// second factor) to the step-up sign-in.
pub const STEP_UP: &str = "kinetic_step_up";
/// How long a session lasts at most, in seconds (8 hours), however often its tokens are renewed.
pub const SESSION_SECS: u64 = 8 * 3600;
/// How long a sign-in may take, in seconds.
pub const PENDING_SECS: u64 = 600;

/// A signed-in user.
#[derive(Serialize, Deserialize, Clone)]
pub struct Session {
    /// Random: names the session in logs.
    pub sid: String,
    /// `{tenant}.{object id}`.
    pub user: String,
    pub name: String,
    pub username: String,
    /// The user's access token to this app (exchanged on their behalf for Epicor's).
    pub access_token: String,
    pub refresh_token: Option<String>,
    /// When the access token expires and when it was obtained (Unix seconds).
    pub expires_at: u64,
    pub obtained_at: u64,
    /// When the user signed in (Unix milliseconds: a sign-out in the same second still ends it).
    pub created_ms: u64,
    /// The CSRF token of this session's forms.
    pub csrf: String,
}

impl Drop for Session {
    fn drop(&mut self) {
        self.access_token.zeroize();
        if let Some(rt) = &mut self.refresh_token {
            rt.zeroize();
        }
        self.csrf.zeroize();
    }
}

/// A sign-in in progress.
#[derive(Serialize, Deserialize)]
pub struct Pending {
    pub state: String,
    pub verifier: String,
    pub nonce: String,
    pub scope: String,
    /// `sign-in`, or `consent` (a consent step for Epicor: the session is kept).
    pub purpose: String,
    pub created: u64,
}

impl Drop for Pending {
    fn drop(&mut self) {
        self.verifier.zeroize();
        self.state.zeroize();
        self.nonce.zeroize();
    }
}

/// A claims challenge waiting for the user to sign in again (`interaction_required`).
#[derive(Serialize, Deserialize)]
pub struct StepUp {
    pub claims: String,
    pub created: u64,
}

/// Seals and opens cookies under one key.
pub struct Sealer {
    cipher: XChaCha20Poly1305,
}

impl Sealer {
    pub fn new(key: [u8; 32]) -> Sealer {
        Sealer {
            cipher: XChaCha20Poly1305::new(&key.into()),
        }
    }

    /// `value` as the text of the cookie `name`: base64url(nonce, ciphertext).
    pub fn seal<T: Serialize>(&self, name: &str, value: &T) -> String {
        let mut plain = serde_json::to_vec(value).unwrap_or_default();
        let nonce_bytes: [u8; 24] = rand::random();
        let nonce = XNonce::from(nonce_bytes);
        let sealed = self
            .cipher
            .encrypt(
                &nonce,
                Payload {
                    msg: &plain,
                    aad: name.as_bytes(),
                },
            )
            .unwrap_or_default();
        plain.zeroize();
        let mut out = nonce_bytes.to_vec();
        out.extend_from_slice(&sealed);
        base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(out)
    }

    /// The value of the cookie `name`, if it opens under this key (not changed, not another
    /// cookie's value).
    pub fn open<T: DeserializeOwned>(&self, name: &str, text: &str) -> Option<T> {
        let bytes = base64::engine::general_purpose::URL_SAFE_NO_PAD
            .decode(text)
            .ok()?;
        if bytes.len() < 24 + 16 {
            return None;
        }
        let (nonce, sealed) = bytes.split_at(24);
        let nonce = XNonce::try_from(nonce).ok()?;
        let mut plain = self
            .cipher
            .decrypt(
                &nonce,
                Payload {
                    msg: sealed,
                    aad: name.as_bytes(),
                },
            )
            .ok()?;
        let value = serde_json::from_slice(&plain).ok();
        plain.zeroize();
        value
    }
}

/// The value of cookie `name` in the request's `Cookie` headers.
pub fn cookie<'a>(headers: &'a axum::http::HeaderMap, name: &str) -> Option<&'a str> {
    headers
        .get_all(axum::http::header::COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(';'))
        .filter_map(|pair| pair.trim().split_once('='))
        .find(|(k, _)| *k == name)
        .map(|(_, v)| v)
}

/// A `Set-Cookie` value: HttpOnly, SameSite=Lax, Path=/, Secure over https; `max_age` 0 deletes.
pub fn set_cookie(name: &str, value: &str, max_age: u64, secure: bool) -> String {
    format!(
        "{name}={value}; Path=/; HttpOnly; SameSite=Lax; Max-Age={max_age}{}",
        if secure { "; Secure" } else { "" }
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_cookie_opens_only_under_its_key_and_name_and_unchanged() {
        let s = Sealer::new([7; 32]);
        let text = s.seal(SESSION, &vec!["a".to_string()]);
        assert_eq!(
            s.open::<Vec<String>>(SESSION, &text),
            Some(vec!["a".into()])
        );
        assert_eq!(
            s.open::<Vec<String>>(PENDING, &text),
            None,
            "another cookie's name"
        );
        assert_eq!(
            Sealer::new([8; 32]).open::<Vec<String>>(SESSION, &text),
            None
        );
        let mut bytes = base64::engine::general_purpose::URL_SAFE_NO_PAD
            .decode(&text)
            .unwrap();
        let last = bytes.len() - 1;
        bytes[last] ^= 1;
        let changed = base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(bytes);
        assert_eq!(s.open::<Vec<String>>(SESSION, &changed), None);
        assert!(!text.contains('a') || s.open::<Vec<String>>(SESSION, "a").is_none());
    }

    #[test]
    fn cookies_are_read_from_every_header_and_set_with_their_flags() {
        let mut h = axum::http::HeaderMap::new();
        h.append("cookie", "x=1; kinetic_session=abc".parse().unwrap());
        h.append("cookie", "kinetic_signin=def".parse().unwrap());
        assert_eq!(cookie(&h, SESSION), Some("abc"));
        assert_eq!(cookie(&h, PENDING), Some("def"));
        assert_eq!(cookie(&h, "y"), None);
        let set = set_cookie(SESSION, "v", 60, true);
        for flag in ["HttpOnly", "SameSite=Lax", "Secure", "Path=/", "Max-Age=60"] {
            assert!(set.contains(flag), "{set}");
        }
        assert!(!set_cookie(SESSION, "v", 60, false).contains("Secure"));
    }
}
