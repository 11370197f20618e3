//! Secrets: passwords, client secrets, tokens and keys.
//!
//! A [`Secret`] never shows its value by accident: `Debug` and `Display` print `[redacted]`, so a
//! secret inside any struct stays out of logs, error messages and panic messages. The memory holding
//! it is zeroed when it is dropped. [`Secret::expose`] is the one way to read the value, which makes
//! every place that does so easy to find and review.

use std::fmt;

use zeroize::Zeroize;

/// What a redacted value prints as, everywhere in this crate.
pub const REDACTED: &str = "[redacted]";

/// A secret string: redacted when printed, zeroed on drop.
///
/// ```
/// use epicor_kinetic::Secret;
///
/// let password = Secret::new("Epicor123!");
/// assert_eq!(format!("{password:?}"), "[redacted]");
/// assert_eq!(password.to_string(), "[redacted]");
/// assert_eq!(password.expose(), "Epicor123!");
/// ```
///
/// Zeroing is best effort: it wipes the buffer this value owns, not copies the operating system or
/// an earlier owner of the text may have made (for example the caller's connection string).
#[derive(Clone, Default)]
pub struct Secret(String);

impl Secret {
    /// Wraps a value. The `String` is moved in, not copied, so no unwiped copy is left behind.
    pub fn new(value: impl Into<String>) -> Self {
        Secret(value.into())
    }

    /// The value itself. Call this only where the value must leave the process (a request header,
    /// a token request body), never to print it.
    pub fn expose(&self) -> &str {
        &self.0
    }

    /// Whether the value is the empty string.
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }
}

impl Drop for Secret {
    fn drop(&mut self) {
        self.0.zeroize();
    }
}

impl fmt::Debug for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(REDACTED)
    }
}

impl fmt::Display for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(REDACTED)
    }
}

impl PartialEq for Secret {
    /// Compares in time that depends on the lengths only, not on where the values first differ, so
    /// a comparison against a guess does not leak how much of the guess was right.
    fn eq(&self, other: &Self) -> bool {
        bool::from(subtle::ConstantTimeEq::ct_eq(
            self.0.as_bytes(),
            other.0.as_bytes(),
        ))
    }
}

impl Eq for Secret {}

impl From<String> for Secret {
    fn from(value: String) -> Self {
        Secret(value)
    }
}

impl From<&str> for Secret {
    fn from(value: &str) -> Self {
        Secret(value.to_owned())
    }
}

/// Secrets can be read from configuration (a token file, a JSON answer). There is deliberately no
/// `Serialize`: writing a secret out must go through [`Secret::expose`].
impl<'de> serde::Deserialize<'de> for Secret {
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        String::deserialize(deserializer).map(Secret)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[derive(Debug)]
    #[allow(dead_code)] // read only through Debug
    struct Login {
        user: String,
        password: Secret,
        token: Option<Secret>,
    }

    #[test]
    fn debug_and_display_never_show_the_value() {
        let s = Secret::new("hunter2-value");
        assert_eq!(format!("{s:?}"), "[redacted]");
        assert_eq!(format!("{s:#?}"), "[redacted]");
        assert_eq!(format!("{s}"), "[redacted]");
        assert_eq!(format!("{s:>20}"), "[redacted]");
        let login = Login {
            user: "manager".into(),
            password: s.clone(),
            token: Some(Secret::new("eyJ-token-value")),
        };
        for shown in [format!("{login:?}"), format!("{login:#?}")] {
            assert!(!shown.contains("hunter2"), "{shown}");
            assert!(!shown.contains("eyJ"), "{shown}");
            assert!(shown.contains("manager"));
            assert!(shown.contains("[redacted]"));
        }
    }

    #[test]
    fn expose_is_the_way_in() {
        let s = Secret::from("abc");
        assert_eq!(s.expose(), "abc");
        assert!(!s.is_empty());
        assert!(Secret::default().is_empty());
    }

    #[test]
    fn equality_compares_values() {
        assert_eq!(Secret::new("abc"), Secret::new("abc"));
        assert_ne!(Secret::new("abc"), Secret::new("abd"));
        assert_ne!(Secret::new("abc"), Secret::new("abcd"));
        assert_eq!(Secret::new(""), Secret::default());
    }

    #[test]
    fn deserializes_from_a_string() {
        let s: Secret = toml::from_str::<toml::Table>("k = 'v'")
            .ok()
            .and_then(|t| t.get("k").cloned())
            .and_then(|v| v.try_into().ok())
            .unwrap_or_default();
        assert_eq!(s.expose(), "v");
    }

    #[test]
    fn zeroes_its_buffer_on_drop() {
        // Wiping is observable only through the buffer itself: zeroize the way Drop does and check.
        let mut s = Secret::new("wipe-me");
        s.0.zeroize();
        assert!(s.0.is_empty());
    }
}
