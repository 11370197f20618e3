//! Bytes as text, the one copy the crate uses: base64url (PKCE, `state`, JWT parts, certificate
//! thumbprints, Redis lock tokens), standard base64 (`Basic` credentials, PEM and PFX blobs) and
//! lower-case hex (certificate pins, digests, the token store's key).

use base64::engine::general_purpose::{STANDARD, URL_SAFE_NO_PAD};
use base64::Engine as _;

/// base64url without padding (RFC 4648 §5), as JWTs and PKCE write it.
pub(crate) fn base64url(bytes: &[u8]) -> String {
    URL_SAFE_NO_PAD.encode(bytes)
}

/// The bytes of base64url text, padded or not; `None` when it is not base64url.
pub(crate) fn base64url_decode(text: &str) -> Option<Vec<u8>> {
    URL_SAFE_NO_PAD.decode(text.trim_end_matches('=')).ok()
}

/// Standard base64 with padding (RFC 4648 §4), as `Authorization: Basic` writes it.
pub(crate) fn base64(bytes: &[u8]) -> String {
    STANDARD.encode(bytes)
}

/// The bytes of standard, padded base64 text; `None` when it is not.
pub(crate) fn base64_decode(text: &str) -> Option<Vec<u8>> {
    STANDARD.decode(text).ok()
}

/// Lower-case hex, two digits a byte. Written into one allocation of the final size, so a
/// secret's hex (the token store's key) leaves no partial copies behind.
pub(crate) fn hex(bytes: &[u8]) -> String {
    const DIGITS: &[u8; 16] = b"0123456789abcdef";
    let mut text = String::with_capacity(bytes.len() * 2);
    for b in bytes {
        text.push(char::from(DIGITS[usize::from(b >> 4)]));
        text.push(char::from(DIGITS[usize::from(b & 0x0f)]));
    }
    text
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trips_and_known_values() {
        let bytes = [0xfbu8, 0xff, 0x00, 0x10, 0x7e];
        assert_eq!(base64url(&bytes), "-_8AEH4");
        assert_eq!(base64(&bytes), "+/8AEH4=");
        assert_eq!(base64url_decode("-_8AEH4").as_deref(), Some(&bytes[..]));
        assert_eq!(base64url_decode("-_8AEH4=").as_deref(), Some(&bytes[..]));
        assert_eq!(base64_decode("+/8AEH4=").as_deref(), Some(&bytes[..]));
        assert_eq!(base64_decode("-_8AEH4="), None);
        assert_eq!(base64url_decode("+/8AEH4"), None);
        assert_eq!(hex(&bytes), "fbff00107e");
        assert_eq!(hex(&[]), "");
    }
}
