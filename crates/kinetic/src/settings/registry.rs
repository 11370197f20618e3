//! The one registry of every connection property.
//!
//! Parsing, validation, environment variables, profiles, the CLI's help and the generated property
//! reference (`PROPERTIES.md`) all read [`PROPERTIES`]. To add a property: add a row here, a field
//! to [`Settings`](super::Settings) and its conversion, then regenerate the reference.

/// Which part of the reference a property belongs to.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Category {
    /// Where the server is and what to address on it.
    Connection,
    /// Who the connector is to Epicor: Basic, the token service, API keys, licences.
    Authentication,
    /// Azure AD (Entra ID) and OpenID Connect tokens.
    OAuth,
    /// Trust in the server's TLS certificate.
    Ssl,
    /// An HTTP proxy between the connector and the server.
    Proxy,
    /// Timeouts, retries, paging, parallelism.
    Performance,
    /// Bounds on SQL statements, for servers that run other people's SQL.
    Sql,
    /// What the connector writes about its work, and where.
    Logging,
}

impl Category {
    /// Every category, in reference order.
    pub const ALL: [Category; 8] = [
        Category::Connection,
        Category::Authentication,
        Category::OAuth,
        Category::Ssl,
        Category::Proxy,
        Category::Performance,
        Category::Sql,
        Category::Logging,
    ];

    /// The category's title in the reference.
    pub fn title(self) -> &'static str {
        match self {
            Category::Connection => "Connection",
            Category::Authentication => "Authentication",
            Category::OAuth => "OAuth (Azure AD / OpenID Connect)",
            Category::Ssl => "SSL",
            Category::Proxy => "Proxy",
            Category::Performance => "Performance",
            Category::Sql => "SQL limits",
            Category::Logging => "Logging",
        }
    }
}

/// The type of a property's value, as written in a connection string.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Kind {
    /// Free text.
    Text,
    /// Free text that is a secret: redacted everywhere, zeroed on drop.
    Secret,
    /// `true`/`false` (also `yes`/`no`, `on`/`off`, `1`/`0`), any case.
    Bool,
    /// A whole number in `min..=max`.
    Int {
        /// Smallest value allowed.
        min: i64,
        /// Largest value allowed.
        max: i64,
    },
    /// One of the listed names, any case.
    Enum(&'static [&'static str]),
    /// One of the listed names, any case, or a GUID.
    EnumOrGuid(&'static [&'static str]),
    /// An `http://` or `https://` address with no user name or password in it.
    Url,
    /// A file system path.
    Path,
    /// A host name or IP address, no scheme, port or credentials.
    Host,
    /// A certificate thumbprint: 40 (SHA-1) or 64 (SHA-256) hex digits; `:` and spaces are ignored.
    Thumbprint,
}

impl Kind {
    /// The type as the reference and the CLI's help describe it.
    pub fn describe(&self) -> String {
        match self {
            Kind::Text => "text".into(),
            Kind::Secret => "secret text".into(),
            Kind::Bool => "true/false".into(),
            Kind::Int { min, max } if *max == i64::MAX => format!("integer ≥ {min}"),
            Kind::Int { min, max } => format!("integer {min}–{max}"),
            Kind::Enum(values) => format!("one of {}", values.join(", ")),
            Kind::EnumOrGuid(values) => format!("one of {}, or a GUID", values.join(", ")),
            Kind::Url => "http(s) URL".into(),
            Kind::Path => "file path".into(),
            Kind::Host => "host name".into(),
            Kind::Thumbprint => "hex thumbprint (SHA-1 or SHA-256)".into(),
        }
    }
}

/// One connection property.
#[derive(Debug)]
pub struct Property {
    /// The canonical name, as CData's Epicor Kinetic connector spells it.
    pub name: &'static str,
    /// Other names accepted in connection strings and profiles (any case).
    pub aliases: &'static [&'static str],
    /// The reference section it is listed in.
    pub category: Category,
    /// The type of its value.
    pub kind: Kind,
    /// The value used when no source sets it, as it would be written in a connection string.
    pub default: Option<&'static str>,
    /// Whether the value is a secret: never printed, never echoed in an error, redacted by
    /// `profile show`, held in a [`Secret`](crate::Secret).
    pub secret: bool,
    /// One line that teaches what the property is for.
    pub help: &'static str,
}

impl Property {
    /// The environment variable that sets this property: `KINETIC_` and the name in capitals.
    ///
    /// ```
    /// assert_eq!(epicor_kinetic::settings::lookup("erpinstance").unwrap().env_var(), "KINETIC_ERPINSTANCE");
    /// ```
    pub fn env_var(&self) -> String {
        format!("{ENV_PREFIX}{}", self.name.to_ascii_uppercase())
    }

    /// Whether `key` names this property (its name or an alias, any case).
    pub fn is_named(&self, key: &str) -> bool {
        self.name.eq_ignore_ascii_case(key)
            || self.aliases.iter().any(|a| a.eq_ignore_ascii_case(key))
    }
}

/// The prefix of every environment variable the connector reads.
pub const ENV_PREFIX: &str = "KINETIC_";

/// Epicor's licence types, by the names users write.
pub const LICENSE_TYPES: &[&str] = &[
    "Default",
    "WebService",
    "WebServiceShared",
    "DataCollection",
];

/// Authentication schemes (the aliases `AzureADOpenID` and `EntraID` mean `AzureAD`).
pub const AUTH_SCHEMES: &[&str] = &["Basic", "Token", "AzureAD", "OAuth", "None"];

/// Other names accepted for enumeration values: `(property, alias, value it means)`.
pub const VALUE_ALIASES: &[(&str, &str, &str)] = &[
    ("AuthScheme", "AzureADOpenID", "AzureAD"),
    ("AuthScheme", "EntraID", "AzureAD"),
];

/// The aliases of one enumeration value of `property`.
pub fn value_aliases(property: &str, value: &str) -> Vec<&'static str> {
    VALUE_ALIASES
        .iter()
        .filter(|(p, _, v)| *p == property && *v == value)
        .map(|(_, alias, _)| *alias)
        .collect()
}

const ONE_DAY: i64 = 86_400;

macro_rules! property {
    ($name:literal, [$($alias:literal),*], $cat:ident, $kind:expr, $default:expr, $help:literal) => {
        Property {
            name: $name,
            aliases: &[$($alias),*],
            category: Category::$cat,
            kind: $kind,
            default: $default,
            secret: matches!($kind, Kind::Secret),
            help: $help,
        }
    };
}

/// Every connection property, in reference order within each category.
pub static PROPERTIES: &[Property] = &[
    // Connection
    property!("URL", ["ServerURL"], Connection, Kind::Url, None,
        "The server's address without the instance, e.g. `https://erp.example.com`; the connector calls `{URL}/{ERPInstance}/api/...`."),
    property!("ERPInstance", ["Instance"], Connection, Kind::Text, None,
        "The Kinetic instance: the first path segment of your Kinetic address (`https://host/{ERPInstance}/`), e.g. `Kinetic` or `ERP11Live`."),
    property!("ApiVersion", [], Connection, Kind::Enum(&["v1", "v2"]), Some("v1"),
        "The REST API version: `v1` (OData v3, company from the user or `Company`) or `v2` (OData v4, company in every address; needs `Company`, usually `ApiKey`)."),
    property!("Company", [], Connection, Kind::Text, None,
        "The Epicor company id, e.g. `EPIC06`. Required with `ApiVersion=v2`; with v1 it overrides the user's default company."),
    property!("Plant", ["Site"], Connection, Kind::Text, None,
        "The plant (site) id sent in `CallSettings`; the user's default plant when unset."),
    property!("Language", [], Connection, Kind::Text, None,
        "The language id sent in `CallSettings`, e.g. `enu`; the user's language when unset."),
    property!("Service", [], Connection, Kind::Text, None,
        "Limit the tables the connector lists to this service, e.g. `Erp.BO.CustomerSvc`; all services when unset."),
    // Authentication
    property!("AuthScheme", [], Authentication, Kind::Enum(AUTH_SCHEMES), Some("Basic"),
        "How to sign in: `Basic` (user and password on each call), `Token` (Epicor's token service), `AzureAD` (also `AzureADOpenID`, `EntraID`), `OAuth` (any OpenID Connect provider, by discovery) or `None`."),
    property!("User", ["Username", "UID"], Authentication, Kind::Text, None,
        "The Epicor user name, for `AuthScheme` `Basic` or `Token`."),
    property!("Password", ["PWD"], Authentication, Kind::Secret, None,
        "The Epicor user's password, for `AuthScheme` `Basic` or `Token`."),
    property!("ApiKey", ["API Key", "x-api-key"], Authentication, Kind::Secret, None,
        "The API key sent as `x-api-key`; Epicor requires one on every v2 call unless the server turns that off. Create it in Kinetic's API Key Maintenance."),
    property!("LicenseType", [], Authentication, Kind::EnumOrGuid(LICENSE_TYPES), Some("Default"),
        "The licence each call claims: `Default`, `WebService`, `WebServiceShared`, `DataCollection`, or the GUID of another licence type."),
    property!("UseSession", [], Authentication, Kind::Bool, Some("false"),
        "Log in once and reuse one Epicor session (and its licence seat) for every call, logging out at the end, instead of claiming a seat per call."),
    // OAuth
    property!("InitiateOAuth", [], OAuth, Kind::Enum(&["OFF", "GETANDREFRESH", "REFRESH"]), Some("OFF"),
        "Whether the connector gets tokens itself: `OFF` (use `OAuthAccessToken` as given), `GETANDREFRESH` (sign in when needed, refresh after), `REFRESH` (only refresh a token it was given). `CLIENT` and `OBO` grants need no person and always get their own tokens."),
    property!("OAuthGrantType", [], OAuth, Kind::Enum(&["CODE", "CLIENT", "OBO", "DEVICE"]), Some("CODE"),
        "The OAuth grant: `CODE` (a person signs in through the browser, PKCE), `CLIENT` (the app itself, with a secret or certificate), `OBO` (on behalf of a signed-in user of your web app), `DEVICE` (a person signs in on another device with a code)."),
    property!("AzureTenant", ["Tenant", "TenantId"], OAuth, Kind::Text, None,
        "The Azure AD tenant: its id (GUID) or domain, e.g. `contoso.onmicrosoft.com`. Required for `AzureAD` unless `OAuthAuthority` already ends with it."),
    property!("OAuthAuthority", [], OAuth, Kind::Url, Some("https://login.microsoftonline.com"),
        "The identity provider's address; for Azure AD the cloud's login address, to which the tenant is appended (or the full authority `https://login.microsoftonline.com/{tenant}`)."),
    property!("OAuthIssuer", [], OAuth, Kind::Url, None,
        "For `AuthScheme=OAuth`: the OpenID Connect issuer, whose `/.well-known/openid-configuration` gives the endpoints."),
    property!("Scope", [], OAuth, Kind::Text, None,
        "The scopes to request, space separated: the Epicor server app's scope, e.g. `api://{server app id}/user_impersonation`, or `api://{server app id}/.default` for `CLIENT`. `offline_access` is added where refresh tokens are wanted."),
    property!("OAuthClientId", ["ClientId"], OAuth, Kind::Text, None,
        "The application (client) id of this connector's app registration."),
    property!("OAuthClientSecret", ["ClientSecret"], OAuth, Kind::Secret, None,
        "The app registration's client secret, for confidential clients (`CLIENT`, `OBO`, or a web app's `CODE`)."),
    property!("OAuthJWTCert", [], OAuth, Kind::Secret, None,
        "The certificate whose private key signs client assertions, instead of a client secret: a file path or the PEM/base64 blob (see `OAuthJWTCertType`). Secret, because a blob holds the private key."),
    property!("OAuthJWTCertType", [], OAuth, Kind::Enum(&["PEMKEY_FILE", "PEMKEY_BLOB", "PFXFILE", "PFXBLOB"]), Some("PEMKEY_FILE"),
        "What `OAuthJWTCert` holds: a PEM file with the certificate and key, a PEM blob, a PKCS#12 (.pfx) file, or a base64 PKCS#12 blob."),
    property!("OAuthJWTCertPassword", [], OAuth, Kind::Secret, None,
        "The password of the `OAuthJWTCert` key or PFX, when it has one."),
    property!("OAuthJWTCertThumbprint", [], OAuth, Kind::Thumbprint, None,
        "The certificate's SHA-1 or SHA-256 thumbprint, sent as `x5t` / `x5t#S256`; computed from the certificate when unset."),
    property!("CallbackURL", ["RedirectURI"], OAuth, Kind::Url, Some("http://localhost:33333"),
        "The redirect URI registered for the app, where the browser returns after sign-in (`CODE`); a `localhost` address is served by the connector itself, and port `0` (`http://localhost:0`) picks a free port (Azure AD and RFC 8252 accept any port on a loopback redirect)."),
    property!("Prompt", [], OAuth, Kind::Enum(&["auto", "select_account", "login", "consent", "none", "omit"]), Some("auto"),
        "The `prompt` of a browser sign-in (`CODE`): `auto` sends `select_account` to Azure AD (as MSAL does) and nothing to other providers; `omit` never sends one; another value is sent as is, and refused before any sign-in when the provider's discovery document lists the prompts it supports and this is not one."),
    property!("OAuthAccessToken", [], OAuth, Kind::Secret, None,
        "An access token to use as is (`InitiateOAuth=OFF`), or the first one to use before refreshing."),
    property!("OAuthRefreshToken", [], OAuth, Kind::Secret, None,
        "A refresh token to get new access tokens with (`InitiateOAuth=REFRESH` or `GETANDREFRESH`)."),
    property!("OAuthVerifier", [], OAuth, Kind::Secret, None,
        "An authorization code obtained elsewhere (a web app's redirect), redeemed for tokens once (`CODE`)."),
    property!("OAuthUserAssertion", [], OAuth, Kind::Secret, None,
        "The signed-in user's access token to your web app, exchanged for an Epicor token (`OBO`)."),
    property!("OAuthExpiresIn", [], OAuth, Kind::Int { min: -1, max: i64::MAX }, None,
        "Lifetime in seconds of `OAuthAccessToken` from `OAuthTokenTimestamp`; `-1` for never. Read from the token itself when unset."),
    property!("OAuthTokenTimestamp", [], OAuth, Kind::Int { min: 0, max: i64::MAX }, None,
        "When `OAuthAccessToken` was issued, in milliseconds since 1970-01-01 UTC."),
    property!("OAuthSettingsLocation", [], OAuth, Kind::Path, None,
        "Where tokens are kept between runs: a file (encrypted with `OAuthSettingsKey`, locked so that processes sharing it refresh once), `memory://name` for the life of the process, or Redis (`redis://host:6379/0`, `rediss://host:6380/0` over TLS, optional `?ca=/path/ca.pem&prefix=name`; encrypted with `OAuthSettingsKey`, shared by every server instance, and where a web app keeps its users' tokens). When unset, a file under the configuration directory, one per URL, instance, client and user (`tokens/{hash}.json.enc`)."),
    property!("OAuthSettingsPassword", [], OAuth, Kind::Secret, None,
        "The password of a Redis `OAuthSettingsLocation` (`requirepass`), kept out of the URL so that it never shows with the location."),
    property!("OAuthSettingsKey", [], OAuth, Kind::Secret, None,
        "The key that encrypts the token file (`OAuthSettingsLocation`, or the default one); else `KINETIC_SETTINGS_KEY`, else a per-user key file created on first use."),
    // SSL
    property!("InsecureHttpForLab", [], Ssl, Kind::Bool, Some("false"),
        "Allow plain `http://` to another machine for `URL`, `OAuthAuthority` and `OAuthIssuer`. Passwords, secrets and tokens then travel in clear: only for a closed lab network, never for a real server. `http://` to this machine's loopback address (a local emulator) needs no such setting."),
    property!("SSLServerCert", [], Ssl, Kind::Text, None,
        "The server certificate to trust besides the public CAs (Mozilla's list, built in): a PEM file path or PEM text (a CA, or the server's own certificate), or a SHA-256/SHA-1 thumbprint that pins the server certificate. Verification cannot be turned off: `*` is refused."),
    // Proxy
    property!("ProxyServer", [], Proxy, Kind::Host, None,
        "The HTTP proxy's host name or address; no proxy when unset."),
    property!("ProxyPort", [], Proxy, Kind::Int { min: 1, max: 65_535 }, Some("80"),
        "The HTTP proxy's port."),
    property!("ProxyUser", [], Proxy, Kind::Text, None,
        "The user name for the proxy's Basic authentication."),
    property!("ProxyPassword", [], Proxy, Kind::Secret, None,
        "The password for the proxy's Basic authentication."),
    // Performance
    property!("Timeout", [], Performance, Kind::Int { min: 0, max: ONE_DAY }, Some("60"),
        "Seconds to wait for one HTTP answer before giving up (and retrying if allowed); `0` waits forever."),
    property!("MaxRetries", [], Performance, Kind::Int { min: 0, max: 20 }, Some("3"),
        "How many times a failed call is retried (429, 502, 503, 504, dropped connections), with growing, jittered waits that honour `Retry-After`."),
    property!("Pagesize", [], Performance, Kind::Int { min: 1, max: 100_000 }, Some("100"),
        "Rows requested per page; results are streamed page by page, so memory stays bounded by this."),
    property!("MaxRows", [], Performance, Kind::Int { min: -1, max: i64::MAX }, Some("-1"),
        "The most rows a query returns; `-1` (or `0`) for no limit."),
    property!("Parallelism", [], Performance, Kind::Int { min: 1, max: 64 }, None,
        "How many pages of one query are fetched at once, when the server's paging allows it. Unset (the default), each query chooses: one page at first, more while the server keeps answering as fast (doubling, then one at a time), fewer when its answers slow down or it pushes back (429, 502-504), one at a time for good once it answers `Retry-After`; at most `MaxParallelism`, and one with `UseSession` (its one Epicor session holds one licence seat, and seats, not cores, bound Epicor's throughput). `1`: one page at a time."),
    property!("MaxParallelism", [], Performance, Kind::Int { min: 1, max: 64 }, Some("8"),
        "The most pages of one query fetched at once when `Parallelism` is unset (one with `UseSession`: one session, one licence seat)."),
    // SQL limits
    property!("MemoryLimit", [], Sql, Kind::Int { min: 0, max: 1_048_576 }, Some("0"),
        "The most memory, in MiB, the SQL statements of one connection may hold at once (sorts, joins, aggregates, recursive queries) and the largest value or batch a SQL function may build (`repeat`, `lpad`, `replace`, `range`, `||`, ...); a statement that needs more stops with an error naming this property. Nothing is written to disk instead. `0`: no limit (the command line's default on one's own machine); a server that runs other people's SQL should set it, e.g. `512`."),
    property!("StatementTimeout", [], Sql, Kind::Int { min: 0, max: ONE_DAY }, Some("0"),
        "The most seconds one SQL statement may take, from parsing to its last row, requests to the server included; a statement still running then stops with an error naming this property. `0`: no limit (the command line's default); a server should set it, e.g. `300`."),
    property!("MaxRecursion", [], Sql, Kind::Int { min: 0, max: 1_000_000 }, Some("100"),
        "The most iterations of a recursive query (`WITH RECURSIVE`), as SQL Server's `MAXRECURSION` (whose default is also 100); a query that recurses further stops with an error naming this property. `0`: no limit."),
    property!("CredentialProcedures", [], Sql, Kind::Bool, Some("true"),
        "Whether SQL may run the procedures that answer credentials (`GetOAuthAccessToken` and `RefreshOAuthAccessToken` return the connection's access token as a row). A server that runs other people's SQL must set `false`: the token is the connection's, not the SQL user's to read."),
    property!("JoinPushdownKeys", [], Sql, Kind::Int { min: 0, max: 100_000 }, Some("1000"),
        "The most distinct keys of a join's smaller side that SQL sends to the server to read only the matching rows of the other side (`Key eq 1 or Key eq 2 ...`, split into requests that stay within IIS's default query-string limit); past it, the keys' range (`Key ge 1 and Key le 900`). `0`: joins read the whole of both sides."),
    // Logging
    property!("Verbosity", [], Logging, Kind::Int { min: 1, max: 5 }, Some("1"),
        "How much `Logfile` gets: `1` errors and a line per call; `2` also authentication (tokens obtained, with their expiry), paging and each attempt with the header names sent; `3` also bodies (never those carrying credentials); `4` also the HTTP transport; `5` everything. Secrets are never written, at any level. `RUST_LOG` overrides."),
    property!("Logfile", [], Logging, Kind::Path, None,
        "The file to append the log to (created readable by its owner only); no file when unset. An application with its own `tracing` subscriber gets the same events there instead."),
];

/// Properties of the reference connector (CData's) that have no meaning here: a pasted CData
/// string that sets them is accepted, each ignored with a note rather than refused. Their values
/// are never read or shown (some, such as `FirewallPassword`, are secrets).
pub const FOREIGN: &[&str] = &[
    "AutoCache",
    "BatchSize",
    "BrowsableSchemas",
    "CacheConnection",
    "CacheDriver",
    "CacheLocation",
    "CacheMetadata",
    "CacheTolerance",
    "ConnectionLifeTime",
    "ConnectOnOpen",
    "FirewallPassword",
    "FirewallPort",
    "FirewallServer",
    "FirewallType",
    "FirewallUser",
    "Location",
    "LogModules",
    "MaxLogFileCount",
    "MaxLogFileSize",
    "Offline",
    "Other",
    "PoolIdleTimeout",
    "PoolMaxSize",
    "PoolMinSize",
    "PoolWaitTime",
    "ProxyAuthScheme",
    "ProxyAutoDetect",
    "ProxyExceptions",
    "ProxySSLType",
    "PseudoColumns",
    "Readonly",
    "RTK",
    "SupportEnhancedSQL",
    "Tables",
    "UseConnectionPooling",
    "UserDefinedViews",
    "Views",
];

/// The name of a reference-connector property ignored here (see [`FOREIGN`]), by `key` in any case.
pub fn foreign(key: &str) -> Option<&'static str> {
    let key = key.trim();
    FOREIGN
        .iter()
        .copied()
        .find(|f| f.eq_ignore_ascii_case(key))
}

/// The property named `key` (by name or alias, any case, surrounding spaces ignored).
///
/// ```
/// let p = epicor_kinetic::settings::lookup("pwd").unwrap();
/// assert_eq!(p.name, "Password");
/// assert!(p.secret);
/// ```
pub fn lookup(key: &str) -> Option<&'static Property> {
    let key = key.trim();
    PROPERTIES.iter().find(|p| p.is_named(key))
}

/// The closest property name or alias to `key`, when it is close enough to be a likely typo.
///
/// ```
/// assert_eq!(epicor_kinetic::settings::suggest("Pasword"), Some("Password"));
/// assert_eq!(epicor_kinetic::settings::suggest("Colour"), None);
/// ```
pub fn suggest(key: &str) -> Option<&'static str> {
    let names = PROPERTIES
        .iter()
        .flat_map(|p| std::iter::once(p.name).chain(p.aliases.iter().copied()));
    crate::did_you_mean::closest(key, names)
}

/// What a property's value is in a [`Settings`](super::Settings): the registry's one place that
/// reads every typed field back as text (`sys_connection_props` shows it).
impl Property {
    /// This property's value in `settings` as a connection string would write it (`v2`, `60`,
    /// `-1`); `None` when it is unset, and always for a secret (whether one is set:
    /// [`Settings::origin`](super::Settings::origin)). A property the settings do not keep
    /// (`InsecureHttpForLab`) gives its default when no source set it, else `None`.
    ///
    /// ```
    /// use epicor_kinetic::settings::{lookup, Settings};
    ///
    /// let s = Settings::parse("URL=https://erp.example.com;ERPInstance=Kinetic;User=u;Password=p;Timeout=5")?;
    /// assert_eq!(lookup("Timeout").unwrap().value_in(&s).as_deref(), Some("5"));
    /// assert_eq!(lookup("Password").unwrap().value_in(&s), None);
    /// # Ok::<(), epicor_kinetic::Error>(())
    /// ```
    pub fn value_in(&self, settings: &super::Settings) -> Option<String> {
        if self.secret {
            return None;
        }
        held_value(settings, self.name).or_else(|| match settings.origin(self.name) {
            None | Some(super::Origin::Default) => self.default.map(str::to_owned),
            Some(_) => None,
        })
    }
}

/// The text of the field of `settings` that holds the non-secret property `name`; `None` when
/// it is unset or not held.
fn held_value(settings: &super::Settings, name: &str) -> Option<String> {
    use super::{ServerCert, TokenExpiry};
    let text = |v: &Option<String>| v.clone();
    let nonempty = |v: &str| (!v.is_empty()).then(|| v.to_owned());
    let seconds = |d: Option<std::time::Duration>| Some(d.map_or(0, |d| d.as_secs()).to_string());
    let (a, o) = (&settings.auth, &settings.oauth);
    match name {
        "URL" => nonempty(&settings.url),
        "ERPInstance" => nonempty(&settings.erp_instance),
        "ApiVersion" => Some(settings.api_version.name().to_owned()),
        "Company" => text(&settings.company),
        "Plant" => text(&settings.plant),
        "Language" => text(&settings.language),
        "Service" => text(&settings.service),
        "AuthScheme" => Some(a.scheme.name().to_owned()),
        "User" => text(&a.user),
        "LicenseType" => Some(a.license_type.to_string()),
        "UseSession" => Some(a.use_session.to_string()),
        "InitiateOAuth" => Some(o.initiate.name().to_owned()),
        "OAuthGrantType" => Some(o.grant_type.name().to_owned()),
        "AzureTenant" => text(&o.azure_tenant),
        "OAuthAuthority" => nonempty(&o.authority),
        "OAuthIssuer" => text(&o.issuer),
        "Scope" => text(&o.scope),
        "OAuthClientId" => text(&o.client_id),
        "OAuthJWTCertType" => Some(o.jwt_cert_type.name().to_owned()),
        "OAuthJWTCertThumbprint" => o.jwt_cert_thumbprint.as_ref().map(ToString::to_string),
        "CallbackURL" => nonempty(&o.callback_url),
        "Prompt" => nonempty(&o.prompt),
        "OAuthExpiresIn" => o.expires_in.map(|e| match e {
            TokenExpiry::Never => "-1".to_owned(),
            TokenExpiry::After(d) => d.as_secs().to_string(),
        }),
        "OAuthTokenTimestamp" => o.token_timestamp.and_then(|t| {
            t.duration_since(std::time::SystemTime::UNIX_EPOCH)
                .ok()
                .map(|d| d.as_millis().to_string())
        }),
        "OAuthSettingsLocation" => o
            .settings_location
            .as_ref()
            .map(|p| p.display().to_string()),
        "SSLServerCert" => settings.ssl_server_cert.as_ref().map(|c| match c {
            ServerCert::AnyCertificate => "*".to_owned(),
            ServerCert::PemFile(p) => p.display().to_string(),
            // Inline PEM is long; it is not secret, but say what it is.
            ServerCert::Pem(_) => "(PEM text)".to_owned(),
            ServerCert::Thumbprint(t) => t.to_string(),
        }),
        "ProxyServer" => settings.proxy.as_ref().map(|p| p.host.clone()),
        "ProxyPort" => settings.proxy.as_ref().map(|p| p.port.to_string()),
        "ProxyUser" => settings.proxy.as_ref().and_then(|p| p.user.clone()),
        "Timeout" => seconds(settings.timeout),
        "MaxRetries" => Some(settings.max_retries.to_string()),
        "Pagesize" => Some(settings.page_size.to_string()),
        "MaxRows" => Some(settings.max_rows.map_or(-1, |n| n as i64).to_string()),
        "Parallelism" => settings.parallelism.map(|n| n.to_string()),
        "MaxParallelism" => Some(settings.max_parallelism.to_string()),
        "MemoryLimit" => Some(settings.memory_limit.map_or(0, |b| b >> 20).to_string()),
        "StatementTimeout" => seconds(settings.statement_timeout),
        "MaxRecursion" => Some(settings.max_recursion.unwrap_or(0).to_string()),
        "CredentialProcedures" => Some(settings.credential_procedures.to_string()),
        "JoinPushdownKeys" => Some(settings.join_pushdown_keys.to_string()),
        "Verbosity" => Some(settings.verbosity.to_string()),
        "Logfile" => settings.log_file.as_ref().map(|p| p.display().to_string()),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashSet;

    #[test]
    fn names_and_aliases_are_unique_ignoring_case() {
        let mut seen = HashSet::new();
        for p in PROPERTIES {
            for n in std::iter::once(p.name).chain(p.aliases.iter().copied()) {
                assert!(seen.insert(n.to_ascii_lowercase()), "`{n}` is used twice");
            }
        }
    }

    #[test]
    fn secret_flag_matches_secret_kind_and_no_secret_has_a_default() {
        for p in PROPERTIES {
            assert_eq!(p.secret, p.kind == Kind::Secret, "{}", p.name);
            if p.secret {
                assert!(p.default.is_none(), "{}", p.name);
            }
            assert!(!p.help.is_empty() && !p.help.contains('\n'), "{}", p.name);
        }
    }

    #[test]
    fn the_required_secrets_are_secret() {
        for name in [
            "Password",
            "ApiKey",
            "OAuthClientSecret",
            "OAuthJWTCertPassword",
            "OAuthAccessToken",
            "OAuthRefreshToken",
            "OAuthVerifier",
            "OAuthUserAssertion",
            "OAuthSettingsKey",
            "ProxyPassword",
        ] {
            assert!(lookup(name).is_some_and(|p| p.secret), "{name}");
        }
    }

    #[test]
    fn lookup_is_case_insensitive_over_names_and_aliases() {
        assert_eq!(lookup("url").map(|p| p.name), Some("URL"));
        assert_eq!(lookup(" ERPINSTANCE ").map(|p| p.name), Some("ERPInstance"));
        assert_eq!(lookup("username").map(|p| p.name), Some("User"));
        assert_eq!(lookup("tenantid").map(|p| p.name), Some("AzureTenant"));
        assert!(lookup("nope").is_none());
    }

    #[test]
    fn suggestions_catch_typos_only() {
        assert_eq!(suggest("Pasword"), Some("Password"));
        assert_eq!(suggest("ERPInstnace"), Some("ERPInstance"));
        assert_eq!(suggest("OAuthClientID"), Some("OAuthClientId")); // exact, any case
        assert_eq!(suggest("AuthSchem"), Some("AuthScheme"));
        assert_eq!(suggest("Compnay"), Some("Company"));
        assert_eq!(suggest("xyzzy"), None);
        assert_eq!(suggest(""), None);
    }

    #[test]
    fn env_vars_are_prefixed_capitals() {
        assert_eq!(
            lookup("OAuthClientId").map(|p| p.env_var()).as_deref(),
            Some("KINETIC_OAUTHCLIENTID")
        );
    }

    /// Every property the settings keep reads back as it was written; only secrets (never
    /// shown) and `InsecureHttpForLab` (not kept) have no held value.
    #[test]
    fn every_kept_property_reads_back_as_written() {
        let given = [
            ("URL", "https://erp.example.com"),
            ("ERPInstance", "Kinetic"),
            ("ApiVersion", "v2"),
            ("Company", "EPIC06"),
            ("Plant", "MfgSys"),
            ("Language", "enu"),
            ("Service", "Erp.BO.CustomerSvc"),
            ("AuthScheme", "Basic"),
            ("User", "u"),
            ("LicenseType", "WebService"),
            ("UseSession", "true"),
            ("Timeout", "5"),
            ("MaxRetries", "2"),
            ("Pagesize", "50"),
            ("MaxRows", "10"),
            ("Parallelism", "2"),
            ("MaxParallelism", "16"),
            ("MemoryLimit", "512"),
            ("StatementTimeout", "30"),
            ("MaxRecursion", "7"),
            ("CredentialProcedures", "false"),
            ("JoinPushdownKeys", "50"),
            ("Verbosity", "3"),
            ("ProxyServer", "proxy.example.com"),
            ("ProxyPort", "8080"),
            ("ProxyUser", "pu"),
        ];
        let connection: String = given
            .iter()
            .map(|(k, v)| format!("{k}={v};"))
            .collect::<String>()
            + "Password=p;ApiKey=k;ProxyPassword=pp";
        let settings = super::super::Settings::parse(&connection).expect("settings");
        for (name, value) in given {
            let p = lookup(name).expect(name);
            assert_eq!(p.value_in(&settings).as_deref(), Some(value), "{name}");
        }
        for p in PROPERTIES.iter().filter(|p| p.secret) {
            assert_eq!(p.value_in(&settings), None, "{}", p.name);
        }
        for p in PROPERTIES
            .iter()
            .filter(|p| !p.secret && p.default.is_some())
        {
            assert!(
                held_value(&settings, p.name).is_some() || p.name == "InsecureHttpForLab",
                "{}",
                p.name
            );
        }
    }
}
