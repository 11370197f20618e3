//! Byte encodings written once for the crate: base64url without padding (JWT segments, JWKS, PKCE,
//! opaque tokens) and lower-case hex (certificate thumbprints).

use base64::Engine;

/// Bytes as base64url without padding (RFC 7515 §2).
pub fn b64url(bytes: &[u8]) -> String {
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(bytes)
}

/// Base64url text without padding to bytes; padding or any other character is an error.
pub fn b64url_decode(text: &str) -> Result<Vec<u8>, base64::DecodeError> {
    base64::engine::general_purpose::URL_SAFE_NO_PAD.decode(text)
}

/// Bytes as lower-case hex.
pub fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|x| format!("{x:02x}")).collect()
}

/// Hex text (either case) to bytes; anything else (odd length, non-hex, non-ASCII) is an error,
/// never a panic.
pub fn hex_decode(text: &str) -> Result<Vec<u8>, ()> {
    let b = text.as_bytes();
    if !b.len().is_multiple_of(2) {
        return Err(());
    }
    let digit = |c: u8| (c as char).to_digit(16).ok_or(());
    b.chunks(2)
        .map(|p| Ok((digit(p[0])? * 16 + digit(p[1])?) as u8))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trips_and_refuses_what_is_not_its_alphabet() {
        let bytes = [0u8, 1, 0xfe, 0xff, 0x7f];
        assert_eq!(b64url(&bytes), "AAH-_38");
        assert_eq!(b64url_decode("AAH-_38").unwrap(), bytes);
        assert!(b64url_decode("AAH-_38=").is_err());
        assert_eq!(hex(&bytes), "0001feff7f");
        assert_eq!(hex_decode("0001FEff7f").unwrap(), bytes);
        assert!(hex_decode("abc").is_err());
        assert!(hex_decode("zz").is_err());
        assert!(hex_decode("é1").is_err());
    }
}
