//! The typed values settings turn into.

use std::fmt;

macro_rules! named_enum {
    ($(#[$meta:meta])* $name:ident { $($(#[$vmeta:meta])* $variant:ident => $text:literal),+ $(,)? }) => {
        $(#[$meta])*
        #[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
        pub enum $name {
            $($(#[$vmeta])* $variant),+
        }

        impl $name {
            /// The value as written in a connection string.
            pub fn name(self) -> &'static str {
                match self {
                    $($name::$variant => $text),+
                }
            }

            /// The value named `text` (the canonical spelling, any case).
            pub fn from_name(text: &str) -> Option<Self> {
                $(if text.eq_ignore_ascii_case($text) {
                    return Some($name::$variant);
                })+
                None
            }
        }

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(self.name())
            }
        }
    };
}

named_enum! {
    /// Which REST API the connector speaks (`ApiVersion`).
    ApiVersion {
        /// `api/v1/`: OData v3; the company comes from the user, `CallSettings` or `Company`.
        V1 => "v1",
        /// `api/v2/odata/{Company}/`: OData v4; needs `Company` and usually an API key.
        V2 => "v2",
    }
}

named_enum! {
    /// How the connector signs in (`AuthScheme`).
    AuthScheme {
        /// HTTP Basic with `User` and `Password` on every call.
        Basic => "Basic",
        /// Epicor's token service (`TokenResource.svc`), then a bearer token.
        Token => "Token",
        /// Azure AD / Entra ID tokens (aliases `AzureADOpenID`, `EntraID`).
        AzureAd => "AzureAD",
        /// Tokens from any OpenID Connect provider, found by discovery.
        OAuth => "OAuth",
        /// No credentials (an API key alone, or an open server).
        None => "None",
    }
}

named_enum! {
    /// Whether the connector gets OAuth tokens itself (`InitiateOAuth`).
    InitiateOAuth {
        /// Use `OAuthAccessToken` as given; never sign in or refresh.
        Off => "OFF",
        /// Sign in when there is no usable token, refresh after.
        GetAndRefresh => "GETANDREFRESH",
        /// Only refresh a token the connector was given or has stored.
        Refresh => "REFRESH",
    }
}

named_enum! {
    /// The OAuth grant (`OAuthGrantType`).
    OAuthGrantType {
        /// Authorization code with PKCE: a person signs in through a browser.
        Code => "CODE",
        /// Client credentials: the application itself, with a secret or a certificate.
        Client => "CLIENT",
        /// On-behalf-of: exchange a signed-in user's token to your app for an Epicor token.
        Obo => "OBO",
        /// Device code: a person signs in on another device.
        Device => "DEVICE",
    }
}

named_enum! {
    /// What `OAuthJWTCert` holds (`OAuthJWTCertType`).
    JwtCertType {
        /// A PEM file holding the certificate and its private key.
        PemKeyFile => "PEMKEY_FILE",
        /// The PEM text itself.
        PemKeyBlob => "PEMKEY_BLOB",
        /// A PKCS#12 (`.pfx`) file.
        PfxFile => "PFXFILE",
        /// A PKCS#12 file's bytes, base64 encoded.
        PfxBlob => "PFXBLOB",
    }
}

impl OAuthGrantType {
    /// Whether the grant needs a person (a browser sign-in or a device code).
    pub fn is_interactive(self) -> bool {
        matches!(self, OAuthGrantType::Code | OAuthGrantType::Device)
    }
}

/// The licence each call claims (`LicenseType`), sent as the `ClaimedLicense` GUID.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub enum LicenseType {
    /// The default licence (`00000003-B615-4300-957B-34956697F040`).
    Default,
    /// Web Service (`00000003-9439-4B30-A6F4-6D2FD4B9FD0F`).
    WebService,
    /// Web Service Shared (`00000003-231B-4E2B-9B47-13F87EA9A0A3`): slowed down by the server.
    WebServiceShared,
    /// Data Collection (`00000003-B8EB-40C4-8897-248CB30C5D47`).
    DataCollection,
    /// Another licence type, by its GUID (upper case, no braces).
    Other(String),
}

impl LicenseType {
    const KNOWN: [(LicenseType, &'static str, &'static str); 4] = [
        (
            LicenseType::Default,
            "Default",
            "00000003-B615-4300-957B-34956697F040",
        ),
        (
            LicenseType::WebService,
            "WebService",
            "00000003-9439-4B30-A6F4-6D2FD4B9FD0F",
        ),
        (
            LicenseType::WebServiceShared,
            "WebServiceShared",
            "00000003-231B-4E2B-9B47-13F87EA9A0A3",
        ),
        (
            LicenseType::DataCollection,
            "DataCollection",
            "00000003-B8EB-40C4-8897-248CB30C5D47",
        ),
    ];

    /// The `ClaimedLicense` GUID Epicor expects.
    ///
    /// ```
    /// use epicor_kinetic::settings::LicenseType;
    /// assert_eq!(LicenseType::WebService.guid(), "00000003-9439-4B30-A6F4-6D2FD4B9FD0F");
    /// ```
    pub fn guid(&self) -> &str {
        match self {
            LicenseType::Other(guid) => guid,
            known => Self::KNOWN
                .iter()
                .find(|(t, _, _)| t == known)
                .map_or("", |(_, _, guid)| guid),
        }
    }

    /// A licence type from its name (any case) or a GUID (any case, braces allowed); a GUID of a
    /// known type gives that type.
    pub fn from_name_or_guid(text: &str) -> Option<Self> {
        if let Some((t, _, _)) = Self::KNOWN
            .iter()
            .find(|(_, n, _)| n.eq_ignore_ascii_case(text))
        {
            return Some(t.clone());
        }
        let guid = normalize_guid(text)?;
        Some(
            Self::KNOWN
                .iter()
                .find(|(_, _, g)| *g == guid)
                .map_or(LicenseType::Other(guid), |(t, _, _)| t.clone()),
        )
    }
}

impl fmt::Display for LicenseType {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match Self::KNOWN.iter().find(|(t, _, _)| t == self) {
            Some((_, name, _)) => f.write_str(name),
            None => f.write_str(self.guid()),
        }
    }
}

/// `8-4-4-4-12` hex digits, optionally in braces, upper-cased; `None` if not a GUID.
fn normalize_guid(text: &str) -> Option<String> {
    let inner = text
        .strip_prefix('{')
        .and_then(|t| t.strip_suffix('}'))
        .unwrap_or(text);
    let groups: Vec<&str> = inner.split('-').collect();
    let lengths = [8, 4, 4, 4, 12];
    let ok = groups.len() == lengths.len()
        && groups
            .iter()
            .zip(lengths)
            .all(|(g, n)| g.len() == n && g.bytes().all(|b| b.is_ascii_hexdigit()));
    ok.then(|| inner.to_ascii_uppercase())
}

/// The hash a certificate thumbprint is made with.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum ThumbprintAlgorithm {
    /// 20 bytes (40 hex digits), sent as `x5t`.
    Sha1,
    /// 32 bytes (64 hex digits), sent as `x5t#S256`.
    Sha256,
}

/// A certificate thumbprint: lower-case hex, separators removed.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct Thumbprint {
    /// Which hash it is.
    pub algorithm: ThumbprintAlgorithm,
    /// The digest in lower-case hex.
    pub hex: String,
}

impl Thumbprint {
    /// Parses 40 or 64 hex digits; `:` and spaces between them are ignored (as Windows and OpenSSL
    /// print them).
    pub fn parse(text: &str) -> Option<Self> {
        let hex: String = text
            .chars()
            .filter(|c| *c != ':' && !c.is_whitespace())
            .collect();
        if !hex.bytes().all(|b| b.is_ascii_hexdigit()) {
            return None;
        }
        let algorithm = match hex.len() {
            40 => ThumbprintAlgorithm::Sha1,
            64 => ThumbprintAlgorithm::Sha256,
            _ => return None,
        };
        Some(Thumbprint {
            algorithm,
            hex: hex.to_ascii_lowercase(),
        })
    }
}

impl fmt::Display for Thumbprint {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.hex)
    }
}

/// Which server certificate to trust besides the system's (`SSLServerCert`).
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum ServerCert {
    /// `*`: CData's "trust any certificate". Parsed so that it can be refused with a clear
    /// message: the HTTP pipeline never turns certificate verification off.
    AnyCertificate,
    /// A PEM file (a CA or the server's own certificate).
    PemFile(std::path::PathBuf),
    /// PEM text given inline.
    Pem(String),
    /// The server certificate's thumbprint.
    Thumbprint(Thumbprint),
}

impl ServerCert {
    /// Reads an `SSLServerCert` value: `*`, PEM text, a thumbprint, or otherwise a file path.
    pub fn parse(text: &str) -> Self {
        if text == "*" {
            ServerCert::AnyCertificate
        } else if text.starts_with("-----BEGIN") {
            ServerCert::Pem(text.to_owned())
        } else if let Some(t) = Thumbprint::parse(text) {
            ServerCert::Thumbprint(t)
        } else {
            ServerCert::PemFile(text.into())
        }
    }
}

/// How long an access token given in `OAuthAccessToken` lasts (`OAuthExpiresIn`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum TokenExpiry {
    /// `-1`: it does not expire.
    Never,
    /// It expires this long after `OAuthTokenTimestamp`.
    After(std::time::Duration),
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn license_names_and_guids() {
        assert_eq!(
            LicenseType::from_name_or_guid("webservice"),
            Some(LicenseType::WebService)
        );
        assert_eq!(
            LicenseType::from_name_or_guid("{00000003-b8eb-40c4-8897-248cb30c5d47}"),
            Some(LicenseType::DataCollection)
        );
        let other = LicenseType::from_name_or_guid("12345678-aaaa-bbbb-cccc-1234567890ab");
        assert_eq!(
            other.as_ref().map(LicenseType::guid),
            Some("12345678-AAAA-BBBB-CCCC-1234567890AB")
        );
        assert_eq!(
            LicenseType::Default.guid(),
            "00000003-B615-4300-957B-34956697F040"
        );
        assert_eq!(
            LicenseType::WebServiceShared.guid(),
            "00000003-231B-4E2B-9B47-13F87EA9A0A3"
        );
        assert_eq!(
            LicenseType::WebServiceShared.to_string(),
            "WebServiceShared"
        );
        for bad in [
            "",
            "Web",
            "12345678-aaaa-bbbb-cccc-1234567890a",
            "{12345678-aaaa-bbbb-cccc-1234567890ab",
        ] {
            assert_eq!(LicenseType::from_name_or_guid(bad), None, "{bad}");
        }
    }

    #[test]
    fn thumbprints() {
        let sha1 = "AB:CD:EF:01:23:45:67:89:AB:CD:EF:01:23:45:67:89:AB:CD:EF:01";
        assert_eq!(
            Thumbprint::parse(sha1).map(|t| t.algorithm),
            Some(ThumbprintAlgorithm::Sha1)
        );
        let sha256 = "a".repeat(64);
        assert_eq!(
            Thumbprint::parse(&sha256).map(|t| t.algorithm),
            Some(ThumbprintAlgorithm::Sha256)
        );
        assert_eq!(Thumbprint::parse("abc"), None);
        assert_eq!(Thumbprint::parse(&"g".repeat(40)), None);
    }

    #[test]
    fn server_certs() {
        assert_eq!(ServerCert::parse("*"), ServerCert::AnyCertificate);
        assert!(matches!(
            ServerCert::parse("-----BEGIN CERTIFICATE-----x"),
            ServerCert::Pem(_)
        ));
        assert!(matches!(
            ServerCert::parse(&"0".repeat(40)),
            ServerCert::Thumbprint(_)
        ));
        assert_eq!(
            ServerCert::parse("/etc/ca.pem"),
            ServerCert::PemFile("/etc/ca.pem".into())
        );
    }

    #[test]
    fn enums_read_any_case() {
        assert_eq!(ApiVersion::from_name("V2"), Some(ApiVersion::V2));
        assert_eq!(
            InitiateOAuth::from_name("GetAndRefresh"),
            Some(InitiateOAuth::GetAndRefresh)
        );
        assert_eq!(AuthScheme::AzureAd.to_string(), "AzureAD");
        assert!(OAuthGrantType::Device.is_interactive());
        assert!(!OAuthGrantType::Obo.is_interactive());
    }
}
