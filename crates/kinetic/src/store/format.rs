//! The token file's bytes.
//!
//! ```text
//! offset  size  field
//! 0       4     magic "KNTS"
//! 4       1     format version, 1
//! 5       24    XChaCha20-Poly1305 nonce, random per write
//! 29      n+16  ciphertext of the JSON settings, then the Poly1305 tag
//! ```
//!
//! The 29-byte header is the cipher's associated data, so a changed magic, version or nonce fails
//! authentication like a changed ciphertext does. The plaintext is JSON with a `"version": 1`
//! field of its own, so its shape can change without changing the envelope.

use chacha20poly1305::aead::{Aead, Generate, KeyInit, Payload};
use chacha20poly1305::{XChaCha20Poly1305, XNonce};
use serde::{Deserialize, Serialize};
use zeroize::Zeroizing;

use super::{PendingAuthorization, SettingsKey, StoredSettings};
use crate::token::Token;
use crate::Secret;

/// The first bytes of every token file.
pub(crate) const MAGIC: &[u8; 4] = b"KNTS";
/// The envelope's version.
pub(crate) const VERSION: u8 = 1;
const NONCE_LEN: usize = 24;
const TAG_LEN: usize = 16;
pub(crate) const HEADER_LEN: usize = MAGIC.len() + 1 + NONCE_LEN;
/// The plaintext's version.
const SETTINGS_VERSION: u32 = 1;

/// Why a file's bytes cannot be read, in words for the user (no secret in any of them).
#[derive(Debug, PartialEq, Eq)]
pub(crate) enum Damage {
    NotATokenFile,
    NewerVersion(u8),
    Truncated,
    WrongKeyOrTampered,
    BadContents(String),
    NewerContents(u32),
}

impl std::fmt::Display for Damage {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Damage::NotATokenFile => f.write_str(
                "it is not a kinetic token file (it does not start with the `KNTS` marker)",
            ),
            Damage::NewerVersion(v) => write!(
                f,
                "it has token file format {v}, which this version of kinetic cannot read (a newer \
                 kinetic wrote it)"
            ),
            Damage::Truncated => f.write_str("it is truncated"),
            Damage::WrongKeyOrTampered => f.write_str(
                "it cannot be decrypted: it was written with another key (OAuthSettingsKey, \
                 KINETIC_SETTINGS_KEY or the key file), or it was damaged",
            ),
            Damage::BadContents(why) => {
                write!(f, "it decrypts, but its contents are damaged ({why})")
            }
            Damage::NewerContents(v) => write!(
                f,
                "it holds settings version {v}, which this version of kinetic cannot read (a \
                 newer kinetic wrote it)"
            ),
        }
    }
}

/// Encrypts `settings` under `key` into a file's bytes.
pub(crate) fn seal(settings: &StoredSettings, key: &SettingsKey) -> std::io::Result<Vec<u8>> {
    seal_bound(settings, key, &[])
}

/// Decrypts and parses a file's bytes.
pub(crate) fn open(bytes: &[u8], key: &SettingsKey) -> Result<StoredSettings, Damage> {
    open_bound(bytes, key, &[])
}

/// As [`seal`], with `context` (where the bytes are kept: a Redis key) authenticated too, so
/// the bytes open only under the same context. An empty context is the file format exactly.
pub(crate) fn seal_bound(
    settings: &StoredSettings,
    key: &SettingsKey,
    context: &[u8],
) -> std::io::Result<Vec<u8>> {
    let plaintext = Zeroizing::new(to_json(settings)?);
    seal_bytes(&plaintext, key, context)
}

/// As [`open`], for bytes sealed with `context` ([`seal_bound`]).
pub(crate) fn open_bound(
    bytes: &[u8],
    key: &SettingsKey,
    context: &[u8],
) -> Result<StoredSettings, Damage> {
    from_json(&open_bytes(bytes, key, context)?)
}

/// Any `plaintext` in the token file's envelope, with `context` authenticated: what the Redis
/// store seals besides settings (sign-out records and events), each under a context of its own.
pub(crate) fn seal_bytes(
    plaintext: &[u8],
    key: &SettingsKey,
    context: &[u8],
) -> std::io::Result<Vec<u8>> {
    let nonce = XNonce::generate();
    let mut out = Vec::with_capacity(HEADER_LEN + plaintext.len() + TAG_LEN);
    out.extend_from_slice(MAGIC);
    out.push(VERSION);
    out.extend_from_slice(nonce.as_slice());
    let cipher = XChaCha20Poly1305::new(key.cipher_key());
    let aad = [&out[..], context].concat();
    // Fails only for a message longer than the cipher allows (256 GiB); settings are a few
    // kilobytes. Reported rather than ignored all the same, so nothing half-made is written.
    let ciphertext = cipher
        .encrypt(
            &nonce,
            Payload {
                msg: plaintext,
                aad: &aad,
            },
        )
        .map_err(|_| std::io::Error::other("the token settings could not be encrypted"))?;
    out.extend_from_slice(&ciphertext);
    Ok(out)
}

/// The plaintext [`seal_bytes`] sealed under `key` and `context`.
pub(crate) fn open_bytes(
    bytes: &[u8],
    key: &SettingsKey,
    context: &[u8],
) -> Result<Zeroizing<Vec<u8>>, Damage> {
    if bytes.len() < MAGIC.len() || &bytes[..MAGIC.len()] != MAGIC {
        // A prefix of the magic is a file cut short, not a foreign one.
        return Err(if !bytes.is_empty() && MAGIC.starts_with(bytes) {
            Damage::Truncated
        } else {
            Damage::NotATokenFile
        });
    }
    match bytes.get(MAGIC.len()) {
        None => return Err(Damage::Truncated),
        Some(&VERSION) => {}
        Some(&other) => return Err(Damage::NewerVersion(other)),
    }
    if bytes.len() < HEADER_LEN + TAG_LEN {
        return Err(Damage::Truncated);
    }
    let (header, ciphertext) = bytes.split_at(HEADER_LEN);
    let nonce = XNonce::try_from(&header[MAGIC.len() + 1..]).map_err(|_| Damage::Truncated)?;
    let cipher = XChaCha20Poly1305::new(key.cipher_key());
    let aad = [header, context].concat();
    cipher
        .decrypt(
            &nonce,
            Payload {
                msg: ciphertext,
                aad: &aad,
            },
        )
        .map(Zeroizing::new)
        .map_err(|_| Damage::WrongKeyOrTampered)
}

#[derive(Serialize)]
struct WireOut<'a> {
    version: u32,
    #[serde(skip_serializing_if = "Option::is_none")]
    token: Option<TokenOut<'a>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pending: Option<PendingOut<'a>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    source: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    discovery: Option<DiscoveryWire>,
}

/// A discovery document as stored (no secret in it).
#[derive(Serialize, Deserialize)]
struct DiscoveryWire {
    url: String,
    issuer: String,
    token: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    authorization: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    device_authorization: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    prompt_values: Option<Vec<String>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    auth_methods: Option<Vec<String>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    end_session: Option<String>,
    fetched_at: u64,
}

#[derive(Serialize)]
struct TokenOut<'a> {
    access_token: &'a str,
    token_type: &'a str,
    #[serde(skip_serializing_if = "Option::is_none")]
    expires_at: Option<u64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    refresh_in: Option<u64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    obtained_at: Option<u64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    refresh_token: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    scope: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    id_token: Option<&'a str>,
}

#[derive(Serialize)]
struct PendingOut<'a> {
    code_verifier: &'a str,
    state: &'a str,
    #[serde(skip_serializing_if = "Option::is_none")]
    redirect_uri: Option<&'a str>,
    created_at: u64,
}

// The `In` shapes deserialize secrets straight into `Secret`s, so no plain `String` copy of a
// token outlives the parse. Unknown fields are ignored: a later minor version may add some.
#[derive(Deserialize)]
struct WireIn {
    version: u32,
    #[serde(default)]
    token: Option<TokenIn>,
    #[serde(default)]
    pending: Option<PendingIn>,
    #[serde(default)]
    source: Option<String>,
    #[serde(default)]
    discovery: Option<DiscoveryWire>,
}

#[derive(Deserialize)]
struct TokenIn {
    access_token: Secret,
    token_type: String,
    expires_at: Option<u64>,
    refresh_in: Option<u64>,
    obtained_at: Option<u64>,
    refresh_token: Option<Secret>,
    scope: Option<String>,
    id_token: Option<Secret>,
}

#[derive(Deserialize)]
struct PendingIn {
    code_verifier: Secret,
    state: Secret,
    redirect_uri: Option<String>,
    created_at: u64,
}

/// The settings' JSON. Secrets leave their `Secret`s here, through `expose`, and only into the
/// buffer the caller zeroizes after encrypting it.
fn to_json(settings: &StoredSettings) -> std::io::Result<Vec<u8>> {
    let wire = WireOut {
        version: SETTINGS_VERSION,
        token: settings.token.as_ref().map(|t| TokenOut {
            access_token: t.access_token.expose(),
            token_type: &t.token_type,
            expires_at: t.expires_at,
            refresh_in: t.refresh_in,
            obtained_at: t.obtained_at,
            refresh_token: t.refresh_token.as_ref().map(Secret::expose),
            scope: t.scope.as_deref(),
            id_token: t.id_token.as_ref().map(Secret::expose),
        }),
        pending: settings.pending.as_ref().map(|p| PendingOut {
            code_verifier: p.code_verifier.expose(),
            state: p.state.expose(),
            redirect_uri: p.redirect_uri.as_deref(),
            created_at: p.created_at,
        }),
        source: settings.source.as_deref(),
        discovery: settings.discovery.as_ref().map(|d| DiscoveryWire {
            url: d.url.clone(),
            issuer: d.endpoints.issuer.clone(),
            token: d.endpoints.token.clone(),
            authorization: d.endpoints.authorization.clone(),
            device_authorization: d.endpoints.device_authorization.clone(),
            prompt_values: d.endpoints.prompt_values.clone(),
            auth_methods: d.endpoints.auth_methods.clone(),
            end_session: d.endpoints.end_session.clone(),
            fetched_at: d.fetched_at,
        }),
    };
    // Sized up front so the buffer never grows: a growing `Vec` would leave copies of the
    // secrets in freed memory that the caller's zeroizing cannot reach.
    let secrets: usize = [
        wire.token.as_ref().map_or(0, |t| {
            t.access_token.len()
                + t.refresh_token.map_or(0, str::len)
                + t.id_token.map_or(0, str::len)
                + t.scope.map_or(0, str::len)
                + t.token_type.len()
        }),
        wire.pending.as_ref().map_or(0, |p| {
            p.code_verifier.len() + p.state.len() + p.redirect_uri.map_or(0, str::len)
        }),
    ]
    .iter()
    .sum();
    // JSON escaping at most sextuples a character (`\u00XX`); the rest is field names and numbers.
    let mut out = Vec::with_capacity(secrets * 6 + 1024);
    // Serializing strings and integers into a `Vec` does not fail; if it ever did, the error says
    // only that, never a value.
    serde_json::to_writer(&mut out, &wire)
        .map_err(|_| std::io::Error::other("the token settings could not be serialized"))?;
    Ok(out)
}

pub(crate) fn from_json(bytes: &[u8]) -> Result<StoredSettings, Damage> {
    // Only the error's category and position are reported: serde_json's messages can quote the
    // offending value, which here may be a token.
    let wire: WireIn = serde_json::from_slice(bytes).map_err(|e| {
        Damage::BadContents(format!(
            "{} at line {} column {}",
            match e.classify() {
                serde_json::error::Category::Syntax | serde_json::error::Category::Eof =>
                    "not valid JSON",
                serde_json::error::Category::Data | serde_json::error::Category::Io =>
                    "a field is missing or has the wrong type",
            },
            e.line(),
            e.column()
        ))
    })?;
    if wire.version != SETTINGS_VERSION {
        return Err(Damage::NewerContents(wire.version));
    }
    Ok(StoredSettings {
        token: wire.token.map(|t| {
            let mut token = Token::bearer(t.access_token);
            token.token_type = t.token_type;
            token.expires_at = t.expires_at;
            token.refresh_in = t.refresh_in;
            token.obtained_at = t.obtained_at;
            token.refresh_token = t.refresh_token;
            token.scope = t.scope;
            token.id_token = t.id_token;
            token
        }),
        pending: wire.pending.map(|p| {
            let mut pending = PendingAuthorization::new(p.code_verifier, p.state, p.created_at);
            pending.redirect_uri = p.redirect_uri;
            pending
        }),
        source: wire.source,
        discovery: wire.discovery.map(|d| {
            super::StoredDiscovery::new(
                d.url,
                crate::oauth::Endpoints {
                    issuer: d.issuer,
                    token: d.token,
                    authorization: d.authorization,
                    device_authorization: d.device_authorization,
                    prompt_values: d.prompt_values,
                    auth_methods: d.auth_methods,
                    end_session: d.end_session,
                },
                d.fetched_at,
            )
        }),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn key(byte: u8) -> SettingsKey {
        SettingsKey::from_bytes([byte; 32])
    }

    fn sample() -> StoredSettings {
        let mut token = Token::bearer("access-SECRET-1")
            .with_refresh_token("refresh-SECRET-2")
            .with_expires_at(1_900_000_000)
            .with_obtained_at(1_899_996_400)
            .with_refresh_in(1800);
        token.scope = Some("api://kinetic/.default offline_access".into());
        token.id_token = Some(Secret::new("id-SECRET-3"));
        let mut pending = PendingAuthorization::new(
            Secret::new("verifier-SECRET-4"),
            Secret::new("state-5"),
            1_899_990_000,
        );
        pending.redirect_uri = Some("http://localhost:33333/".into());
        StoredSettings {
            token: Some(token),
            pending: Some(pending),
            source: Some("client_credentials 1f2e".into()),
            discovery: Some(super::super::StoredDiscovery::new(
                "https://login.example/t/v2.0/.well-known/openid-configuration".into(),
                crate::oauth::Endpoints {
                    issuer: "https://login.example/t/v2.0".into(),
                    token: "https://login.example/t/oauth2/v2.0/token".into(),
                    authorization: None,
                    device_authorization: Some("https://login.example/t/devicecode".into()),
                    prompt_values: Some(vec!["login".into()]),
                    auth_methods: Some(vec!["client_secret_basic".into()]),
                    end_session: Some("https://login.example/t/oauth2/v2.0/logout".into()),
                },
                1_899_990_001,
            )),
        }
    }

    #[test]
    fn round_trips_every_field() {
        let sealed = seal(&sample(), &key(7)).unwrap_or_default();
        assert_eq!(open(&sealed, &key(7)), Ok(sample()));
        assert_eq!(
            open(
                &seal(&StoredSettings::default(), &key(7)).unwrap_or_default(),
                &key(7)
            ),
            Ok(StoredSettings::default())
        );
    }

    #[test]
    fn the_bytes_hold_no_plaintext_and_differ_every_write() {
        let sealed = || seal(&sample(), &key(7)).unwrap_or_default();
        let (a, b) = (sealed(), sealed());
        assert_ne!(a, b, "a fresh nonce per write");
        assert_eq!(&a[..5], b"KNTS\x01");
        for needle in [
            "SECRET",
            "access_token",
            "refresh_token",
            "Bearer",
            "version",
        ] {
            assert!(
                !a.windows(needle.len()).any(|w| w == needle.as_bytes()),
                "{needle} in the file"
            );
        }
    }

    #[test]
    fn every_kind_of_damage_is_named() {
        let good = seal(&sample(), &key(7)).unwrap_or_default();
        assert_eq!(open(&good, &key(8)), Err(Damage::WrongKeyOrTampered));
        assert_eq!(open(b"", &key(7)), Err(Damage::NotATokenFile));
        assert_eq!(open(b"KN", &key(7)), Err(Damage::Truncated));
        assert_eq!(
            open(b"{\"version\":1}", &key(7)),
            Err(Damage::NotATokenFile)
        );
        assert_eq!(open(b"KNTS", &key(7)), Err(Damage::Truncated));
        assert_eq!(open(b"KNTS\x02rest", &key(7)), Err(Damage::NewerVersion(2)));
        for cut in [5, 20, HEADER_LEN, HEADER_LEN + 15, good.len() - 1] {
            let got = open(&good[..cut], &key(7));
            assert!(
                got == Err(Damage::Truncated) || got == Err(Damage::WrongKeyOrTampered),
                "cut at {cut}: {got:?}"
            );
        }
        // Any flipped bit, header included, fails authentication.
        for at in [5, 17, HEADER_LEN, good.len() - 1] {
            let mut bad = good.clone();
            bad[at] ^= 0x01;
            assert_eq!(
                open(&bad, &key(7)),
                Err(Damage::WrongKeyOrTampered),
                "bit at {at}"
            );
        }
    }

    #[test]
    fn damaged_contents_are_reported_without_their_values() {
        let k = key(7);
        let seal_raw = |json: &str| {
            let nonce = XNonce::generate();
            let mut out = MAGIC.to_vec();
            out.push(VERSION);
            out.extend_from_slice(nonce.as_slice());
            let ct = XChaCha20Poly1305::new(k.cipher_key())
                .encrypt(
                    &nonce,
                    Payload {
                        msg: json.as_bytes(),
                        aad: &out,
                    },
                )
                .unwrap_or_default();
            out.extend_from_slice(&ct);
            out
        };
        let wrong_type = seal_raw(
            r#"{"version":1,"token":{"access_token":"tok-LEAK","token_type":"Bearer","expires_at":"tok-LEAK2"}}"#,
        );
        match open(&wrong_type, &k) {
            Err(d @ Damage::BadContents(_)) => {
                let shown = d.to_string();
                assert!(!shown.contains("LEAK"), "{shown}");
                assert!(shown.contains("wrong type"), "{shown}");
            }
            other => panic!("{other:?}"),
        }
        assert!(matches!(
            open(&seal_raw("not json"), &k),
            Err(Damage::BadContents(_))
        ));
        assert!(matches!(
            open(&seal_raw("{}"), &k),
            Err(Damage::BadContents(_))
        ));
        assert_eq!(
            open(&seal_raw(r#"{"version":2}"#), &k),
            Err(Damage::NewerContents(2))
        );
        assert_eq!(
            open(&seal_raw(r#"{"version":1,"later":true}"#), &k),
            Ok(StoredSettings::default())
        );
    }
}
