//! Epicor's own request headers: `License` (the claimed licence and the session) and
//! `CallSettings` (company, plant, language), as JSON that fits in a header.

use ::http::header::HeaderValue;

use crate::error::{Error, Result};
use crate::secret::Secret;

/// The `CallSettings` header from `Company`, `Plant` and `Language`; `None` when none is set.
pub fn call_settings_header(
    company: Option<&str>,
    plant: Option<&str>,
    language: Option<&str>,
) -> Result<Option<HeaderValue>> {
    let mut map = serde_json::Map::new();
    for (key, value) in [
        ("Company", company),
        ("Plant", plant),
        ("Language", language),
    ] {
        if let Some(v) = value {
            map.insert(key.into(), serde_json::Value::String(v.to_owned()));
        }
    }
    if map.is_empty() {
        return Ok(None);
    }
    let text = ascii_json(&serde_json::Value::Object(map));
    HeaderValue::from_str(&text).map(Some).map_err(|_| {
        Error::invalid_settings(
            "Company",
            "`Company`, `Plant` or `Language` holds a character that cannot go in a header",
            "use the ids as Epicor shows them (letters, digits, dashes)",
        )
    })
}

/// JSON with every non-ASCII character escaped (`\u00e9`): header values must be ASCII, and a
/// plant or company named in another alphabet must still go through.
fn ascii_json(value: &serde_json::Value) -> String {
    let text = value.to_string();
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        if c.is_ascii() {
            out.push(c);
        } else {
            let mut units = [0u16; 2];
            for unit in c.encode_utf16(&mut units) {
                out.push_str(&format!("\\u{unit:04x}"));
            }
        }
    }
    out
}

/// The `License` header: the claimed licence's GUID and the session, if any.
pub(super) fn license_header(
    claimed_license: &str,
    session_id: Option<&Secret>,
) -> Option<HeaderValue> {
    let mut map = serde_json::Map::new();
    map.insert("ClaimedLicense".into(), claimed_license.into());
    if let Some(id) = session_id {
        map.insert("SessionID".into(), id.expose().into());
    }
    let mut value = HeaderValue::from_str(&ascii_json(&serde_json::Value::Object(map))).ok()?;
    value.set_sensitive(session_id.is_some());
    Some(value)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn license_header_names_the_guid_and_session() {
        let h = license_header("00000003-9439-4B30-A6F4-6D2FD4B9FD0F", None);
        assert_eq!(
            h.as_ref().and_then(|v| v.to_str().ok()),
            Some(r#"{"ClaimedLicense":"00000003-9439-4B30-A6F4-6D2FD4B9FD0F"}"#)
        );
        let h = license_header(
            "00000003-B615-4300-957B-34956697F040",
            Some(&Secret::new("s-1")),
        );
        assert_eq!(
            h.as_ref().and_then(|v| v.to_str().ok()),
            Some(r#"{"ClaimedLicense":"00000003-B615-4300-957B-34956697F040","SessionID":"s-1"}"#)
        );
        assert!(h.is_some_and(|v| v.is_sensitive()));
    }

    #[test]
    fn call_settings_from_company_plant_language() {
        let h = call_settings_header(Some("EPIC06"), Some("MfgSys"), Some("en-US"))
            .ok()
            .flatten();
        assert_eq!(
            h.as_ref().and_then(|v| v.to_str().ok()),
            Some(r#"{"Company":"EPIC06","Plant":"MfgSys","Language":"en-US"}"#)
        );
        let h = call_settings_header(None, Some("Usine-Orléans-𝔸"), None)
            .ok()
            .flatten();
        let text = h.as_ref().and_then(|v| v.to_str().ok()).unwrap_or_default();
        assert_eq!(text, r#"{"Plant":"Usine-Orl\u00e9ans-\ud835\udd38"}"#);
        let back: serde_json::Value = serde_json::from_str(text).unwrap_or_default();
        assert_eq!(back["Plant"], "Usine-Orléans-𝔸");
        assert!(call_settings_header(None, None, None).is_ok_and(|h| h.is_none()));
    }
}
