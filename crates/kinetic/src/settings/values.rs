//! Checking one property's value against its registry type, with messages people can act on.

use super::registry::{Kind, Property, VALUE_ALIASES};
use super::types::{LicenseType, Thumbprint};
use crate::did_you_mean::closest;

/// A value that passed its type check, in the form the typed settings need.
#[derive(Debug, PartialEq, Eq)]
pub(crate) enum Checked {
    /// Text, a secret, or a path: any value is fine.
    Text,
    /// A boolean.
    Bool(bool),
    /// A whole number within range.
    Int(i64),
    /// The canonical spelling of an enumeration value (aliases resolved).
    Choice(&'static str),
    /// A licence type by name or GUID.
    License(LicenseType),
    /// A URL, normalised: scheme in lower case, no trailing `/`.
    Url(String),
    /// A certificate thumbprint.
    Thumbprint(Thumbprint),
}

/// Why a value was refused: what it must be, and optionally a likely intended value.
#[derive(Debug)]
pub(crate) struct Refusal {
    /// Completes "`X` must ...".
    pub must: String,
    /// What to set instead.
    pub hint: String,
}

/// Checks `value` (already trimmed, non-empty) against `property`'s type.
pub(crate) fn check(property: &Property, value: &str) -> Result<Checked, Refusal> {
    let name = property.name;
    match property.kind {
        Kind::Text | Kind::Secret | Kind::Path => Ok(Checked::Text),
        Kind::Bool => parse_bool(value).map(Checked::Bool).ok_or_else(|| Refusal {
            must: "be true or false".into(),
            hint: format!("set {name}=true or {name}=false"),
        }),
        Kind::Int { min, max } => match value.parse::<i64>() {
            Ok(n) if (min..=max).contains(&n) => Ok(Checked::Int(n)),
            _ => Err(Refusal {
                must: if max == i64::MAX {
                    format!("be a whole number of at least {min}")
                } else {
                    format!("be a whole number from {min} to {max}")
                },
                hint: match property.default {
                    Some(d) => format!("set {name} to a number in range, e.g. {name}={d}"),
                    None => format!("set {name} to a number in range"),
                },
            }),
        },
        Kind::Enum(values) => choice(name, values, value).map(Checked::Choice),
        Kind::EnumOrGuid(values) => LicenseType::from_name_or_guid(value)
            .map(Checked::License)
            .ok_or_else(|| {
                let mut refusal = choice(name, values, value).err().unwrap_or_else(|| Refusal {
                    must: String::new(),
                    hint: String::new(),
                });
                refusal.must = format!("be one of {} or a GUID", values.join(", "));
                refusal
            }),
        // A desktop sign-in's loopback redirect may ask for any free port (`:0`, RFC 8252 7.3).
        Kind::Url => check_url_port(value, name == "CallbackURL")
            .map(Checked::Url)
            .map_err(|must| Refusal {
            hint: match (name, must.contains("user name")) {
                ("URL", true) => "put the user name and password in User and Password instead".into(),
                (_, true) => "remove the credentials from the address".into(),
                _ => format!(
                    "set {name} to an address like {}",
                    property.default.unwrap_or("https://erp.example.com")
                ),
            },
            must,
        }),
        Kind::Host => check_host(value).map(|()| Checked::Text).map_err(|must| Refusal {
            must,
            hint: format!("write the host alone, e.g. {name}=proxy.example.com, and the port in ProxyPort"),
        }),
        Kind::Thumbprint => Thumbprint::parse(value)
            .map(Checked::Thumbprint)
            .ok_or_else(|| Refusal {
                must: "be a SHA-1 (40 hex digits) or SHA-256 (64 hex digits) thumbprint".into(),
                hint: format!("copy the certificate's thumbprint into {name}, or leave it unset to compute it"),
            }),
    }
}

/// Whether a refused value may be quoted back in a message: never for secrets, and not for URLs
/// (an address can carry a password or a key in it).
pub(crate) fn may_echo(property: &Property, value: &str) -> bool {
    !property.secret
        && !matches!(property.kind, Kind::Url | Kind::Host)
        && value.chars().count() <= 80
        && !value.chars().any(char::is_control)
}

fn parse_bool(value: &str) -> Option<bool> {
    const TRUE: [&str; 4] = ["true", "yes", "on", "1"];
    const FALSE: [&str; 4] = ["false", "no", "off", "0"];
    if TRUE.iter().any(|t| t.eq_ignore_ascii_case(value)) {
        Some(true)
    } else if FALSE.iter().any(|f| f.eq_ignore_ascii_case(value)) {
        Some(false)
    } else {
        None
    }
}

/// The canonical value `value` names among `values` or their aliases (any case).
fn choice(
    property: &str,
    values: &'static [&'static str],
    value: &str,
) -> Result<&'static str, Refusal> {
    if let Some(v) = values.iter().find(|v| v.eq_ignore_ascii_case(value)) {
        return Ok(v);
    }
    let aliases = VALUE_ALIASES.iter().filter(|(p, _, _)| *p == property);
    if let Some((_, _, v)) = aliases
        .clone()
        .find(|(_, a, _)| a.eq_ignore_ascii_case(value))
    {
        return Ok(v);
    }
    let names = values.iter().copied().chain(aliases.map(|(_, a, _)| *a));
    Err(Refusal {
        must: format!("be one of {}", values.join(", ")),
        hint: match closest(value, names) {
            Some(guess) => format!("did you mean {property}={guess}?"),
            None => format!("set {property} to one of {}", values.join(", ")),
        },
    })
}

/// Checks an `http(s)://` address: a host, an optional port, an optional path, and nothing that
/// would leak or be dropped (credentials, query, fragment). Returns it with the scheme in lower
/// case and no trailing `/`.
/// Port 0 is allowed when `any_port` (the connector then picks a free one).
fn check_url_port(value: &str, any_port: bool) -> Result<String, String> {
    let Some((scheme, rest)) = value.split_once("://") else {
        return Err("start with http:// or https://".into());
    };
    let scheme = scheme.to_ascii_lowercase();
    if scheme != "http" && scheme != "https" {
        return Err("start with http:// or https://".into());
    }
    if value.chars().any(|c| c.is_whitespace() || c.is_control()) {
        return Err("not contain spaces".into());
    }
    let authority_end = rest.find(['/', '?', '#']).unwrap_or(rest.len());
    let (authority, path) = rest.split_at(authority_end);
    if authority.contains('@') {
        // Credentials in an address end up in logs and proxies; they belong in their own
        // (secret) properties.
        return Err("not contain a user name or password".into());
    }
    if path.contains(['?', '#']) {
        return Err("not have a query (?...) or fragment (#...)".into());
    }
    let (host, port) = if let Some(bracketed) = authority.strip_prefix('[') {
        // An IPv6 literal: [::1]:8080
        let Some((host, after)) = bracketed.split_once(']') else {
            return Err("have a well-formed host".into());
        };
        if !after.is_empty() && !after.starts_with(':') {
            return Err("have a well-formed host".into());
        }
        (host, after.strip_prefix(':'))
    } else {
        match authority.split_once(':') {
            Some((host, port)) => (host, Some(port)),
            None => (authority, None),
        }
    };
    if host.is_empty() {
        return Err("name a host".into());
    }
    if let Some(port) = port {
        if !matches!(port.parse::<u16>(), Ok(p) if p > 0 || any_port) {
            return Err("have a port from 1 to 65535 after the host".into());
        }
    }
    Ok(format!(
        "{scheme}://{authority}{}",
        path.trim_end_matches('/')
    ))
}

fn check_host(value: &str) -> Result<(), String> {
    if value.contains("://") || value.contains('/') {
        return Err("be a host name, not an address with a scheme or path".into());
    }
    if value.contains('@') {
        return Err("not contain a user name or password (use ProxyUser and ProxyPassword)".into());
    }
    if value.chars().any(|c| c.is_whitespace() || c.is_control()) {
        return Err("not contain spaces".into());
    }
    // One colon is a port; an IPv6 literal has several (or brackets).
    if value.matches(':').count() == 1 && !value.starts_with('[') {
        return Err("not contain a port".into());
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::settings::registry::lookup;

    fn check_named(name: &str, value: &str) -> Result<Checked, Refusal> {
        match lookup(name) {
            Some(p) => check(p, value),
            None => panic!("{name} is not a property"),
        }
    }

    #[test]
    fn urls() {
        assert_eq!(
            check_url_port("HTTPS://erp.example.com/", false)
                .ok()
                .as_deref(),
            Some("https://erp.example.com")
        );
        assert_eq!(
            check_url_port("http://127.0.0.1:8040", false)
                .ok()
                .as_deref(),
            Some("http://127.0.0.1:8040")
        );
        assert_eq!(
            check_url_port("http://[::1]:8040/x/", false)
                .ok()
                .as_deref(),
            Some("http://[::1]:8040/x")
        );
        assert_eq!(
            check_url_port("https://h/proxy/path", false)
                .ok()
                .as_deref(),
            Some("https://h/proxy/path")
        );
        for (bad, why) in [
            ("erp.example.com", "http"),
            ("ftp://h", "http"),
            ("https://u:p@h", "user name"),
            ("https://u@h", "user name"),
            ("https://", "host"),
            ("https://:80", "host"),
            ("https://h:0", "port"),
            ("https://h:99999", "port"),
            ("https://h:x", "port"),
            ("https://h/a b", "spaces"),
            ("https://h/?api-key=k", "query"),
            ("https://h#f", "query"),
            ("http://[::1", "well-formed"),
        ] {
            match check_url_port(bad, false) {
                Ok(u) => panic!("{bad} accepted as {u}"),
                Err(e) => assert!(e.contains(why), "{bad}: {e}"),
            }
        }
    }

    #[test]
    fn bools_ints_enums() {
        assert_eq!(
            check_named("UseSession", "YES").ok(),
            Some(Checked::Bool(true))
        );
        assert_eq!(
            check_named("UseSession", "off").ok(),
            Some(Checked::Bool(false))
        );
        assert!(check_named("UseSession", "maybe").is_err_and(|r| r.must == "be true or false"));
        assert_eq!(check_named("Timeout", "0").ok(), Some(Checked::Int(0)));
        assert!(check_named("Timeout", "-1").is_err_and(|r| r.must.contains("from 0 to 86400")));
        assert!(check_named("Timeout", "1.5").is_err());
        assert_eq!(
            check_named("AuthScheme", "entraid").ok(),
            Some(Checked::Choice("AzureAD"))
        );
        assert_eq!(
            check_named("AuthScheme", "AZUREADOPENID").ok(),
            Some(Checked::Choice("AzureAD"))
        );
        assert!(check_named("AuthScheme", "Basci")
            .is_err_and(|r| r.hint == "did you mean AuthScheme=Basic?"));
        assert!(check_named("ApiVersion", "v3").is_err_and(|r| r.must == "be one of v1, v2"));
        assert!(check_named("LicenseType", "WebServise")
            .is_err_and(|r| r.must.ends_with("or a GUID") && r.hint.contains("WebService")));
    }

    #[test]
    fn hosts() {
        assert!(check_named("ProxyServer", "proxy.example.com").is_ok());
        assert!(check_named("ProxyServer", "::1").is_ok());
        assert!(check_named("ProxyServer", "http://proxy").is_err());
        assert!(check_named("ProxyServer", "proxy:8080").is_err_and(|r| r.must.contains("port")));
        assert!(check_named("ProxyServer", "u:p@proxy").is_err_and(|r| r.must.contains("password")));
    }
}
