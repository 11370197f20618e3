//! Connection settings: the property registry, the connection-string grammar, environment
//! variables and profiles, validated into typed [`Settings`].
//!
//! # Sources and precedence
//!
//! [`Settings::resolve`] merges four sources **property by property**; for each property the
//! first source that sets it wins:
//!
//! 1. the explicit connection string (what the program or the user passed);
//! 2. `KINETIC_<PROPERTY>` environment variables, one per property (e.g. `KINETIC_PASSWORD`);
//! 3. the `KINETIC_CONNECTION` environment variable, a whole connection string, **only when no
//!    connection string and no profile are given explicitly**;
//! 4. the named profile in `{config dir}/profiles.toml` (the profile argument, else
//!    `KINETIC_PROFILE`);
//!
//! and the registry's default applies last. Why this order: the more specific and the more
//! deliberate a source, the higher it ranks. A string passed explicitly is what the caller means
//! now; a single `KINETIC_PASSWORD` is a targeted override (a secret manager injecting one value)
//! and must beat a whole string that happens to carry an old password; a whole
//! `KINETIC_CONNECTION` describes this environment's default connection, so a connection named
//! explicitly (`-c`, `--profile`) replaces it rather than mixing with it (a URL from one and an API
//! key from the other would be nobody's connection). Merging per property lets a profile hold
//! everything but the password, which comes from the environment. [`Settings::notes`] says when an
//! environment value hid a profile's or `KINETIC_CONNECTION` was left out.
//!
//! An empty value (`Company=`) unsets the property at that level, so it also hides the property of
//! lower sources (the default then applies). Empty environment variables are ignored, as shells
//! make it easy to set one to empty by accident.
//!
//! [`Settings::parse`] reads a connection string alone: no environment, no profile.
//!
//! # Grammar
//!
//! `Key=Value` pairs separated by `;`. Keys are property names or aliases, in any case. Values may
//! be quoted with `"..."`, `'...'` or `{...}`: inside quotes `;` and `=` are literal and a doubled
//! closing quote stands for one. Whitespace around keys and bare values is trimmed; empty pairs are
//! ignored. A key given twice in one string is an error.

mod grammar;
mod merged;
pub mod profiles;
pub mod reference;
pub mod registry;
mod sources;
mod types;
mod validate;
mod values;

use std::cell::RefCell;
use std::collections::BTreeMap;
use std::fmt;
use std::path::PathBuf;
use std::time::{Duration, SystemTime};

use zeroize::Zeroizing;

use crate::error::{Error, Result};
use crate::secret::Secret;

pub use registry::{lookup, suggest, Category, Kind, Property, ENV_PREFIX, PROPERTIES};
pub use sources::{ConfigDir, ConfigFiles, Env, ProcessEnv, CONFIG_DIR_VAR};
pub use types::{
    ApiVersion, AuthScheme, InitiateOAuth, JwtCertType, LicenseType, OAuthGrantType, ServerCert,
    Thumbprint, ThumbprintAlgorithm, TokenExpiry,
};

use merged::Values;
use validate::validate;

/// The environment variable holding a whole connection string.
pub const CONNECTION_VAR: &str = "KINETIC_CONNECTION";

/// The environment variable naming the profile to use when none is given.
pub const PROFILE_VAR: &str = "KINETIC_PROFILE";

/// Where a setting's value came from. Error messages name it, so the user knows what to edit.
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum Origin {
    /// The explicit connection string.
    ConnectionString,
    /// A `KINETIC_<PROPERTY>` environment variable (its name).
    EnvVar(String),
    /// The `KINETIC_CONNECTION` environment variable.
    EnvConnection,
    /// A profile in the profiles file.
    Profile {
        /// The profile's name.
        name: String,
        /// The profiles file.
        path: PathBuf,
    },
    /// What the command or program implies when no source sets it (`kinetic login` implies
    /// `InitiateOAuth=GETANDREFRESH`): the reason.
    Implied(String),
    /// The registry's default.
    Default,
}

/// The `property` that grammar errors name: the string as a whole, whichever source it came from.
pub const CONNECTION_STRING: &str = "ConnectionString";

impl fmt::Display for Origin {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Origin::ConnectionString => f.write_str("the connection string"),
            Origin::EnvVar(name) => write!(f, "environment variable {name}"),
            Origin::EnvConnection => write!(f, "environment variable {CONNECTION_VAR}"),
            Origin::Profile { name, path } => write!(f, "profile `{name}` ({})", path.display()),
            Origin::Implied(why) => write!(f, "{why}"),
            Origin::Default => f.write_str("the default"),
        }
    }
}

/// One source's value of one property. The text is wiped on drop: it may be a secret.
struct Value {
    text: Zeroizing<String>,
    origin: Origin,
}

/// One source's properties, by canonical name.
type Layer = BTreeMap<&'static str, Value>;

/// Reads a connection string into a layer: every key must be a known property, given once.
fn layer_from_string(input: &str, origin: &Origin) -> Result<Layer> {
    let mut layer = Layer::new();
    let mut positions: BTreeMap<&'static str, (String, usize)> = BTreeMap::new();
    for pair in grammar::parse_pairs(input, origin)? {
        let Some(property) = lookup(&pair.key) else {
            if registry::foreign(&pair.key).is_some() {
                continue; // a reference-connector property with no meaning here: see `foreign_notes`
            }
            return Err(unknown_property(&pair, origin));
        };
        if let Some((first_key, first_position)) = positions.get(property.name) {
            return Err(Error::invalid_settings(
                property.name,
                format!(
                    "`{}` is given twice in {origin} (as `{first_key}` at character {first_position} and `{}` at character {})",
                    property.name,
                    grammar::shown_key(&pair.key),
                    pair.position
                ),
                "keep one of them",
            ));
        }
        positions.insert(
            property.name,
            (grammar::shown_key(&pair.key), pair.position),
        );
        layer.insert(
            property.name,
            Value {
                text: pair.value,
                origin: origin.clone(),
            },
        );
    }
    Ok(layer)
}

/// Notes for the reference connector's properties `input` sets that are ignored here.
fn foreign_notes(input: &str, origin: &Origin) -> Vec<String> {
    grammar::parse_pairs(input, origin)
        .map(|pairs| {
            pairs
                .iter()
                .filter(|p| lookup(&p.key).is_none())
                .filter_map(|p| registry::foreign(&p.key))
                .map(|name| {
                    format!("`{name}` in {origin} is a CData connector property with no meaning here; ignored")
                })
                .collect()
        })
        .unwrap_or_default()
}

fn unknown_property(pair: &grammar::Pair, origin: &Origin) -> Error {
    if let Some(secret) = pair.after_bare_secret {
        // `Password=ab;cd=ef` reads `cd` as a key: it may be the rest of the password, so it is
        // not echoed. A likely intended name is still suggested: that reveals only a name.
        let guess = suggest(&pair.key)
            .map(|name| format!("did you mean `{name}`? "))
            .unwrap_or_default();
        return Error::invalid_settings(
            secret.name,
            format!(
                "unknown property at character {} of {origin}, right after `{name}` (not shown: it may be part of the {name} value)",
                pair.position,
                name = secret.name
            ),
            format!(
                "{guess}if the value of `{name}` contains `;`, quote it: {name}={{...}}",
                name = secret.name
            ),
        );
    }
    let key = grammar::shown_key(&pair.key);
    Error::invalid_settings(
        key.clone(),
        format!("unknown property `{key}` in {origin}"),
        match suggest(&pair.key) {
            Some(name) => format!("did you mean `{name}`?"),
            None => "see the property reference (PROPERTIES.md) for every property".to_owned(),
        },
    )
}

/// The `KINETIC_<PROPERTY>` variables that are set (and not empty).
fn layer_from_env_vars(env: &dyn Env) -> Layer {
    PROPERTIES
        .iter()
        .filter_map(|p| {
            let var = p.env_var();
            // Used verbatim (a password may end in a space); typed values are trimmed when read.
            let text = Zeroizing::new(env.var(&var)?);
            if text.trim().is_empty() {
                return None;
            }
            Some((
                p.name,
                Value {
                    text,
                    origin: Origin::EnvVar(var),
                },
            ))
        })
        .collect()
}

/// Adds `lower`'s properties that `higher` does not have.
fn merge_under(higher: &mut Layer, lower: Layer) {
    for (name, value) in lower {
        higher.entry(name).or_insert(value);
    }
}

/// What [`Settings::explain`] found.
#[derive(Debug)]
#[non_exhaustive]
pub struct Explained {
    /// Every property with a value: name, value as it may be shown (secrets redacted), origin.
    pub properties: Vec<(&'static str, String, Origin)>,
    /// The notes of the resolution (see [`Settings::notes`]).
    pub notes: Vec<String>,
    /// Why these settings do not make a connection, if they do not.
    pub problem: Option<Error>,
}

/// Validated, typed connection settings.
///
/// ```
/// use epicor_kinetic::settings::{ApiVersion, AuthScheme, Settings};
///
/// let s = Settings::parse(
///     "URL=https://erp.example.com;ERPInstance=Kinetic;User=manager;Password=Epicor123!;\
///      ApiVersion=v2;Company=EPIC06;ApiKey=k",
/// )?;
/// assert_eq!(s.api_version, ApiVersion::V2);
/// assert_eq!(s.auth.scheme, AuthScheme::Basic);
/// assert!(!format!("{s:?}").contains("Epicor123!"));
/// # Ok::<(), epicor_kinetic::Error>(())
/// ```
#[derive(Clone, Debug)]
#[non_exhaustive]
pub struct Settings {
    /// `URL`: the server's address, scheme in lower case, no trailing `/`.
    pub url: String,
    /// `ERPInstance`: the instance name, the first path segment after `url`.
    pub erp_instance: String,
    /// `ApiVersion`.
    pub api_version: ApiVersion,
    /// `Company`: always present with v2.
    pub company: Option<String>,
    /// `Plant`.
    pub plant: Option<String>,
    /// `Language`.
    pub language: Option<String>,
    /// `Service`: the one service to list tables from.
    pub service: Option<String>,
    /// Who the connector is to Epicor.
    pub auth: AuthSettings,
    /// OAuth tokens (used with `AuthScheme` `AzureAD` and `OAuth`).
    pub oauth: OAuthSettings,
    /// `SSLServerCert`.
    pub ssl_server_cert: Option<ServerCert>,
    /// The proxy, when `ProxyServer` is set.
    pub proxy: Option<ProxySettings>,
    /// `Timeout` per HTTP answer; `None` waits forever (`Timeout=0`).
    pub timeout: Option<Duration>,
    /// `MaxRetries`.
    pub max_retries: u32,
    /// `Pagesize`: rows per page, at least 1.
    pub page_size: u32,
    /// `MaxRows`; `None` for no limit.
    pub max_rows: Option<u64>,
    /// `Parallelism`: pages fetched at once, fixed; `None` (unset) lets each query choose, up to
    /// `max_parallelism`, by how the server answers.
    pub parallelism: Option<u32>,
    /// `MaxParallelism`: the most pages a query fetches at once when `Parallelism` is unset.
    pub max_parallelism: u32,
    /// `MemoryLimit` in bytes; `None` for no limit.
    pub memory_limit: Option<u64>,
    /// `StatementTimeout`; `None` for no limit.
    pub statement_timeout: Option<Duration>,
    /// `MaxRecursion`; `None` for no limit.
    pub max_recursion: Option<u32>,
    /// `CredentialProcedures`: whether SQL may run procedures that answer credentials.
    pub credential_procedures: bool,
    /// `JoinPushdownKeys`: the most distinct keys of a join's smaller side that SQL sends to
    /// the server to narrow the other side's scan; 0 for none.
    pub join_pushdown_keys: u32,
    /// `Verbosity`, 1 to 5.
    pub verbosity: u8,
    /// `Logfile`.
    pub log_file: Option<PathBuf>,
    origins: BTreeMap<&'static str, Origin>,
    notes: Vec<String>,
}

/// Who the connector is to Epicor.
#[derive(Clone, Debug)]
#[non_exhaustive]
pub struct AuthSettings {
    /// `AuthScheme`.
    pub scheme: AuthScheme,
    /// `User`: present with `Basic` and `Token`.
    pub user: Option<String>,
    /// `Password`: present with `Basic` and `Token`.
    pub password: Option<Secret>,
    /// `ApiKey`.
    pub api_key: Option<Secret>,
    /// `LicenseType`.
    pub license_type: LicenseType,
    /// `UseSession`.
    pub use_session: bool,
}

/// OAuth settings, for `AuthScheme` `AzureAD` and `OAuth`.
#[derive(Clone, Debug)]
#[non_exhaustive]
pub struct OAuthSettings {
    /// `InitiateOAuth`.
    pub initiate: InitiateOAuth,
    /// `OAuthGrantType`.
    pub grant_type: OAuthGrantType,
    /// `AzureTenant`.
    pub azure_tenant: Option<String>,
    /// `OAuthAuthority`, no trailing `/`.
    pub authority: String,
    /// `OAuthIssuer`, no trailing `/`.
    pub issuer: Option<String>,
    /// `Scope`, as written (space separated).
    pub scope: Option<String>,
    /// `OAuthClientId`.
    pub client_id: Option<String>,
    /// `OAuthClientSecret`.
    pub client_secret: Option<Secret>,
    /// `OAuthJWTCert`: a path or a blob, see `jwt_cert_type`.
    pub jwt_cert: Option<Secret>,
    /// `OAuthJWTCertType`.
    pub jwt_cert_type: JwtCertType,
    /// `OAuthJWTCertPassword`.
    pub jwt_cert_password: Option<Secret>,
    /// `OAuthJWTCertThumbprint`.
    pub jwt_cert_thumbprint: Option<Thumbprint>,
    /// `CallbackURL`, no trailing `/`.
    pub callback_url: String,
    /// `Prompt`: `auto`, `omit`, or the value to send.
    pub prompt: String,
    /// `OAuthAccessToken`.
    pub access_token: Option<Secret>,
    /// `OAuthRefreshToken`.
    pub refresh_token: Option<Secret>,
    /// `OAuthVerifier`: an authorization code to redeem.
    pub verifier: Option<Secret>,
    /// `OAuthUserAssertion`: the user's token for on-behalf-of.
    pub user_assertion: Option<Secret>,
    /// `OAuthExpiresIn`.
    pub expires_in: Option<TokenExpiry>,
    /// `OAuthTokenTimestamp`.
    pub token_timestamp: Option<SystemTime>,
    /// `OAuthSettingsLocation`.
    pub settings_location: Option<PathBuf>,
    /// `OAuthSettingsKey`.
    pub settings_key: Option<Secret>,
    /// `OAuthSettingsPassword`: the Redis store's password.
    pub settings_password: Option<Secret>,
}

impl OAuthSettings {
    /// Whether the connector requests tokens itself (rather than only using
    /// `OAuthAccessToken`): with `InitiateOAuth` other than `OFF`, and always for the `CLIENT` and
    /// `OBO` grants, which need no person.
    pub fn requests_tokens(&self) -> bool {
        self.initiate != InitiateOAuth::Off || !self.grant_type.is_interactive()
    }

    /// The Azure AD authority: `OAuthAuthority` when it already has a path (the tenant), else
    /// `OAuthAuthority/AzureTenant`.
    pub fn azure_authority(&self) -> Option<String> {
        if authority_tenant(&self.authority).is_some() {
            return Some(self.authority.clone());
        }
        self.azure_tenant
            .as_ref()
            .map(|tenant| format!("{}/{tenant}", self.authority))
    }
}

/// An HTTP proxy.
#[derive(Clone, Debug)]
#[non_exhaustive]
pub struct ProxySettings {
    /// `ProxyServer`.
    pub host: String,
    /// `ProxyPort`.
    pub port: u16,
    /// `ProxyUser`.
    pub user: Option<String>,
    /// `ProxyPassword`.
    pub password: Option<Secret>,
}

/// Appends `key={value}` to a connection string (braces quote anything; `}` is doubled).
fn push_pair(text: &mut String, key: &str, value: &str) {
    if !text.is_empty() {
        text.push(';');
    }
    text.push_str(key);
    text.push_str("={");
    text.push_str(&value.replace('}', "}}"));
    text.push('}');
}

/// The tenant segment of an authority URL (`https://login.microsoftonline.com/{tenant}`).
fn authority_tenant(authority: &str) -> Option<&str> {
    let after_scheme = authority.split_once("://").map_or(authority, |(_, r)| r);
    let path = after_scheme
        .split_once('/')
        .map(|(_, p)| p.trim_matches('/'))?;
    path.rsplit('/').next().filter(|t| !t.is_empty())
}

impl Settings {
    /// Validated settings from a connection string alone (no environment variables, no
    /// profile), with defaults for what it does not set.
    pub fn parse(connection: &str) -> Result<Settings> {
        let mut settings =
            Settings::from_layer(layer_from_string(connection, &Origin::ConnectionString)?)?;
        settings.notes = foreign_notes(connection, &Origin::ConnectionString);
        Ok(settings)
    }

    /// [`Settings::parse`] of `connection` with `properties` set on top: each replaces the
    /// string's pair for the same property (whatever spelling or alias either uses) or is added.
    /// What the Python module's `connect("...", User="u")` does. Unknown names are errors, as in
    /// the string.
    ///
    /// ```
    /// use epicor_kinetic::settings::Settings;
    /// let s = Settings::parse_with(
    ///     "URL=https://erp.example.com;ERPInstance=Kinetic;user=a;Password=x",
    ///     &[("User", "b"), ("Company", "EPIC06"), ("password", "p;w}=d")],
    /// )?;
    /// assert_eq!(s.auth.user.as_deref(), Some("b"));
    /// assert_eq!(s.company.as_deref(), Some("EPIC06"));
    /// assert_eq!(s.auth.password.as_ref().map(|p| p.expose()), Some("p;w}=d"));
    /// let e = Settings::parse_with("URL=https://erp.example.com", &[("Pasword", "x")]).unwrap_err();
    /// assert!(e.to_string().contains("did you mean `Password`?"));
    /// # Ok::<(), epicor_kinetic::Error>(())
    /// ```
    pub fn parse_with(connection: &str, properties: &[(&str, &str)]) -> Result<Settings> {
        let mut replaced = Vec::new();
        for (key, _) in properties {
            match registry::lookup(key) {
                Some(p) => replaced.push(p.name),
                // A reference-connector property with no meaning here: noted, as in a string.
                None if registry::foreign(key).is_some() => {}
                None => {
                    let hint = match registry::suggest(key) {
                        Some(s) => format!("did you mean `{s}`?"),
                        None => "see the property reference (PROPERTIES.md) for every name".into(),
                    };
                    return Err(Error::invalid_settings(
                        key.trim(),
                        format!("`{}` is not a connection property", key.trim()),
                        hint,
                    ));
                }
            }
        }
        let mut text = zeroize::Zeroizing::new(String::new());
        for pair in grammar::parse_pairs(connection, &Origin::ConnectionString)? {
            if registry::lookup(&pair.key).is_some_and(|p| replaced.contains(&p.name)) {
                continue;
            }
            push_pair(&mut text, &pair.key, &pair.value);
        }
        for (key, value) in properties {
            push_pair(&mut text, key.trim(), value);
        }
        Settings::parse(&text)
    }

    /// Validated settings from every source, merged property by property in this order of
    /// precedence: `connection` > `KINETIC_<PROPERTY>` variables > `KINETIC_CONNECTION` (only
    /// when neither `connection` nor `profile` is given) > the profile (`profile`, else
    /// `KINETIC_PROFILE`; none when neither is set) > defaults.
    /// See the [module documentation](self) for why.
    ///
    /// A named profile that does not exist is an error; so is any bad value in the winning
    /// source. Nothing here touches the network.
    pub fn resolve(
        connection: Option<&str>,
        profile: Option<&str>,
        env: &dyn Env,
        files: &dyn ConfigFiles,
    ) -> Result<Settings> {
        Settings::resolve_implying(connection, profile, env, files, &[], "")
    }

    /// The sources merged, before the values are checked, with the notes they gave.
    fn merge_sources(
        connection: Option<&str>,
        profile: Option<&str>,
        env: &dyn Env,
        files: &dyn ConfigFiles,
        implied: &[(&str, &str)],
        why: &str,
    ) -> Result<(Layer, Vec<String>)> {
        let mut notes = connection
            .map(|c| foreign_notes(c, &Origin::ConnectionString))
            .unwrap_or_default();
        let mut merged = match connection {
            Some(c) => layer_from_string(c, &Origin::ConnectionString)?,
            None => Layer::new(),
        };
        let explicit_profile = profile.map(str::trim).filter(|p| !p.is_empty());
        let profile_layer = match explicit_profile.map(str::to_owned).or_else(|| {
            env.var(PROFILE_VAR)
                .filter(|p| !p.trim().is_empty())
                .map(|p| p.trim().to_owned())
        }) {
            Some(name) => Some((profiles::load(files, &name)?, name)),
            None => None,
        };
        // One targeted variable beats a stored profile (a secret manager injecting a password),
        // and says so when it hides the profile's own value.
        let vars = layer_from_env_vars(env);
        if let Some((layer, name)) = &profile_layer {
            for (property, value) in &vars {
                if !merged.contains_key(property) && layer.contains_key(property) {
                    if let Origin::EnvVar(var) = &value.origin {
                        notes.push(format!(
                            "{var} is set and used instead of profile {name}'s {property}"
                        ));
                    }
                }
            }
        }
        merge_under(&mut merged, vars);
        // A whole connection string in the environment describes a connection of its own: it
        // applies only when the command line names none (no `-c`, no `--profile`).
        if let Some(c) = env.var(CONNECTION_VAR).filter(|c| !c.trim().is_empty()) {
            if connection.is_none() && explicit_profile.is_none() {
                let c = Zeroizing::new(c);
                notes.extend(foreign_notes(&c, &Origin::EnvConnection));
                merge_under(&mut merged, layer_from_string(&c, &Origin::EnvConnection)?);
            } else {
                notes.push(format!(
                    "{CONNECTION_VAR} is set but not used: the connection named on the command line ({}) wins",
                    if connection.is_some() { "-c" } else { "--profile" }
                ));
            }
        }
        if let Some((layer, _)) = profile_layer {
            merge_under(&mut merged, layer);
        }
        for (property, value) in implied {
            if let Some(p) = lookup(property) {
                merged.entry(p.name).or_insert(Value {
                    text: Zeroizing::new((*value).to_owned()),
                    origin: Origin::Implied(why.to_owned()),
                });
            }
        }
        Ok((merged, notes))
    }

    /// As [`Settings::resolve`], with values `implied` (property, value) that apply when no source
    /// sets the property, above the registry's defaults: what a command means by itself (`kinetic
    /// login` signs in: `InitiateOAuth=GETANDREFRESH`). `why` names the command in the origin.
    pub fn resolve_implying(
        connection: Option<&str>,
        profile: Option<&str>,
        env: &dyn Env,
        files: &dyn ConfigFiles,
        implied: &[(&str, &str)],
        why: &str,
    ) -> Result<Settings> {
        let (merged, notes) =
            Settings::merge_sources(connection, profile, env, files, implied, why)?;
        let mut settings = Settings::from_layer(merged)?;
        settings.notes = notes;
        Ok(settings)
    }

    /// What the sources say, even when they do not make a usable connection (for `kinetic config
    /// show` on an incomplete profile): every property with a value as it may be shown (secrets
    /// redacted) and its origin, the notes, and the settings error if there is one. A source that
    /// cannot be read at all (a missing profile, a grammar error) is still an error.
    pub fn explain(
        connection: Option<&str>,
        profile: Option<&str>,
        env: &dyn Env,
        files: &dyn ConfigFiles,
    ) -> Result<Explained> {
        let (merged, notes) = Settings::merge_sources(connection, profile, env, files, &[], "")?;
        let values = Values {
            layer: merged,
            read: RefCell::default(),
        };
        let shown = values.shown();
        let origins = values.origins();
        let properties = PROPERTIES
            .iter()
            .filter_map(|p| {
                let value = shown.get(p.name)?.clone();
                let origin = origins.get(p.name)?.clone();
                Some((p.name, value, origin))
            })
            .collect();
        let problem = Settings::from_values(&values).err();
        Ok(Explained {
            properties,
            notes,
            problem,
        })
    }

    /// What the resolution wants the user to know: environment values that overrode a profile's,
    /// or a `KINETIC_CONNECTION` left out because the command line named a connection. A command
    /// line prints them on standard error.
    pub fn notes(&self) -> &[String] {
        &self.notes
    }

    /// [`Settings::resolve`] with the process environment and the user's configuration directory.
    pub fn load(connection: Option<&str>, profile: Option<&str>) -> Result<Settings> {
        Settings::load_implying(connection, profile, &[], "")
    }

    /// [`Settings::resolve_implying`] with the process environment and configuration directory.
    pub fn load_implying(
        connection: Option<&str>,
        profile: Option<&str>,
        implied: &[(&str, &str)],
        why: &str,
    ) -> Result<Settings> {
        Settings::resolve_implying(
            connection,
            profile,
            &ProcessEnv,
            &ConfigDir::locate(&ProcessEnv),
            implied,
            why,
        )
    }

    /// Where the value of `property` (name or alias) came from; [`Origin::Default`] for defaults,
    /// `None` for properties left unset.
    pub fn origin(&self, property: &str) -> Option<&Origin> {
        self.origins.get(lookup(property)?.name)
    }

    /// Types every property, then checks the combinations.
    fn from_layer(layer: Layer) -> Result<Settings> {
        Settings::from_values(&Values {
            layer,
            read: RefCell::default(),
        })
    }

    fn from_values(v: &Values) -> Result<Settings> {
        let settings = Settings {
            url: v.secure_url("URL")?.unwrap_or_default(),
            erp_instance: v.text("ERPInstance")?.unwrap_or_default(),
            api_version: v
                .choice("ApiVersion", ApiVersion::from_name)?
                .unwrap_or(ApiVersion::V1),
            company: v.text("Company")?,
            plant: v.text("Plant")?,
            language: v.text("Language")?,
            service: v.text("Service")?,
            auth: AuthSettings {
                scheme: v
                    .choice("AuthScheme", AuthScheme::from_name)?
                    .unwrap_or(AuthScheme::Basic),
                user: v.text("User")?,
                password: v.secret("Password")?,
                api_key: v.secret("ApiKey")?,
                license_type: v.license("LicenseType")?.unwrap_or(LicenseType::Default),
                use_session: v.bool("UseSession")?.unwrap_or(false),
            },
            oauth: OAuthSettings {
                initiate: v
                    .choice("InitiateOAuth", InitiateOAuth::from_name)?
                    .unwrap_or(InitiateOAuth::Off),
                grant_type: v
                    .choice("OAuthGrantType", OAuthGrantType::from_name)?
                    .unwrap_or(OAuthGrantType::Code),
                azure_tenant: v.azure_tenant()?,
                authority: v.secure_url("OAuthAuthority")?.unwrap_or_default(),
                issuer: v.secure_url("OAuthIssuer")?,
                scope: v.text("Scope")?,
                client_id: v.text("OAuthClientId")?,
                client_secret: v.secret("OAuthClientSecret")?,
                jwt_cert: v.secret("OAuthJWTCert")?,
                jwt_cert_type: v
                    .choice("OAuthJWTCertType", JwtCertType::from_name)?
                    .unwrap_or(JwtCertType::PemKeyFile),
                jwt_cert_password: v.secret("OAuthJWTCertPassword")?,
                jwt_cert_thumbprint: v.thumbprint("OAuthJWTCertThumbprint")?,
                callback_url: v.url("CallbackURL")?.unwrap_or_default(),
                prompt: v
                    .text("Prompt")?
                    .unwrap_or_else(|| "auto".into())
                    .to_ascii_lowercase(),
                access_token: v.secret("OAuthAccessToken")?,
                refresh_token: v.secret("OAuthRefreshToken")?,
                verifier: v.secret("OAuthVerifier")?,
                user_assertion: v.secret("OAuthUserAssertion")?,
                expires_in: v.int("OAuthExpiresIn")?.map(|n| match u64::try_from(n) {
                    Ok(secs) => TokenExpiry::After(Duration::from_secs(secs)),
                    Err(_) => TokenExpiry::Never,
                }),
                token_timestamp: v.int("OAuthTokenTimestamp")?.and_then(|ms| {
                    let ms = u64::try_from(ms).ok()?;
                    SystemTime::UNIX_EPOCH.checked_add(Duration::from_millis(ms))
                }),
                settings_location: v.path("OAuthSettingsLocation")?,
                settings_key: v.secret("OAuthSettingsKey")?,
                settings_password: v.secret("OAuthSettingsPassword")?,
            },
            ssl_server_cert: v.text("SSLServerCert")?.map(|t| ServerCert::parse(&t)),
            proxy: match v.text("ProxyServer")? {
                Some(host) => Some(ProxySettings {
                    host,
                    port: v
                        .int("ProxyPort")?
                        .and_then(|p| u16::try_from(p).ok())
                        .unwrap_or(80),
                    user: v.text("ProxyUser")?,
                    password: v.secret("ProxyPassword")?,
                }),
                None => {
                    // Read them anyway, so a bad value is reported and the rules below can say
                    // that they need ProxyServer.
                    v.int("ProxyPort")?;
                    v.text("ProxyUser")?;
                    v.secret("ProxyPassword")?;
                    None
                }
            },
            timeout: v
                .int("Timeout")?
                .and_then(|s| u64::try_from(s).ok())
                .filter(|s| *s > 0)
                .map(Duration::from_secs),
            max_retries: v.u32("MaxRetries", 3)?,
            page_size: v.u32("Pagesize", 100)?,
            max_rows: v
                .int("MaxRows")?
                .and_then(|n| u64::try_from(n).ok())
                .filter(|n| *n > 0),
            parallelism: v.int("Parallelism")?.and_then(|n| u32::try_from(n).ok()),
            max_parallelism: v.u32("MaxParallelism", 8)?,
            memory_limit: v
                .int("MemoryLimit")?
                .and_then(|mib| u64::try_from(mib).ok())
                .filter(|mib| *mib > 0)
                .map(|mib| mib.saturating_mul(1024 * 1024)),
            statement_timeout: v
                .int("StatementTimeout")?
                .and_then(|s| u64::try_from(s).ok())
                .filter(|s| *s > 0)
                .map(Duration::from_secs),
            max_recursion: Some(v.u32("MaxRecursion", 100)?).filter(|n| *n > 0),
            credential_procedures: v.bool("CredentialProcedures")?.unwrap_or(true),
            join_pushdown_keys: v.u32("JoinPushdownKeys", 1000)?,
            verbosity: v
                .int("Verbosity")?
                .and_then(|n| u8::try_from(n).ok())
                .unwrap_or(1),
            log_file: v.path("Logfile")?,
            origins: v.origins(),
            notes: Vec::new(),
        };
        validate(&settings, v)?;
        Ok(settings)
    }
}

#[cfg(test)]
mod tests;

/// Whether `url` (already checked, scheme lower case) is `http://` to a loopback host:
/// `localhost`, `127.0.0.0/8` or `[::1]`.
pub(crate) fn is_loopback_http(url: &str) -> bool {
    let Some(rest) = url.strip_prefix("http://") else {
        return false;
    };
    let authority = rest.split('/').next().unwrap_or("");
    let host = if let Some(v6) = authority.strip_prefix('[') {
        v6.split(']').next().unwrap_or("")
    } else {
        authority.rsplit_once(':').map_or(authority, |(h, _)| h)
    };
    host.eq_ignore_ascii_case("localhost")
        || host
            .parse::<std::net::IpAddr>()
            .is_ok_and(|ip| ip.is_loopback())
}
