//! Settings and sign-in commands: profile, props, oauth.

use crate::common::{usage, ConnectionArgs, Failure, Format};
use crate::output::{self, out, outln};
use clap::{Args, Subcommand};
use epicor_kinetic::settings::{profiles, ConfigDir, ProcessEnv, PROPERTIES};

/// `kinetic profile ...`.
#[derive(Subcommand)]
pub enum ProfileCommand {
    /// Store a connection string under a name (in profiles.toml in the configuration directory;
    /// KINETIC_CONFIG_DIR moves it). Secrets are stored as given: keep them out with
    /// KINETIC_PASSWORD and friends, or protect the file.
    ///
    /// Example:
    ///   kinetic profile add prod \
    ///     "URL=https://erp.example.com;ERPInstance=Kinetic;User=svc;ApiVersion=v2;Company=EPIC06"
    #[command(verbatim_doc_comment)]
    Add {
        /// The profile's name (letters, digits, '-', '_').
        name: String,
        /// The connection string.
        connection: String,
        /// Replace a profile of the same name.
        #[arg(long)]
        replace: bool,
    },
    /// List the profiles' names.
    List,
    /// Show a profile's properties, secrets redacted.
    Show {
        /// The profile's name.
        name: String,
    },
    /// Remove a profile.
    Remove {
        /// The profile's name.
        name: String,
    },
}

pub fn profile(command: ProfileCommand) -> Result<(), Failure> {
    let config = ConfigDir::locate(&ProcessEnv);
    match command {
        ProfileCommand::Add {
            name,
            connection,
            replace,
        } => {
            profiles::add(&config, &name, &connection, replace)?;
            eprintln!(
                "saved profile `{name}` in {}; use it with --profile {name}",
                profiles::profiles_path(&config)?.display()
            );
        }
        ProfileCommand::List => {
            let names = profiles::list(&config)?;
            if names.is_empty() {
                eprintln!(
                    "no profiles yet; add one with `kinetic profile add NAME \"URL=...;...\"`"
                );
            }
            for n in names {
                outln!("{n}")?;
            }
        }
        ProfileCommand::Show { name } => {
            for p in profiles::show(&config, &name)? {
                outln!("{}={}", p.property, p.value)?;
            }
        }
        ProfileCommand::Remove { name } => {
            if profiles::remove(&config, &name)? {
                eprintln!("removed profile `{name}`");
            } else {
                return Err(usage(
                    format!("there is no profile `{name}`"),
                    "`kinetic profile list` lists them",
                ));
            }
        }
    }
    Ok(())
}

/// `kinetic props`.
#[derive(Args)]
pub struct PropsArgs {
    /// Show only properties whose name, category or description contains this (any case).
    pub search: Option<String>,
    /// Output: table on a terminal, JSON when piped.
    #[arg(long, value_enum, default_value_t = Format::Auto)]
    pub format: Format,
    /// Print the whole reference as Markdown (what PROPERTIES.md holds).
    #[arg(long, conflicts_with = "search")]
    pub markdown: bool,
}

pub fn props(args: PropsArgs) -> Result<(), Failure> {
    if args.markdown {
        out!("{}", epicor_kinetic::settings::reference::markdown())?;
        return Ok(());
    }
    let needle = args.search.as_deref().map(str::to_lowercase);
    let chosen: Vec<_> = PROPERTIES
        .iter()
        .filter(|p| match &needle {
            None => true,
            Some(n) => {
                p.name.to_lowercase().contains(n)
                    || p.category.title().to_lowercase().contains(n)
                    || p.help.to_lowercase().contains(n)
                    || p.aliases.iter().any(|a| a.to_lowercase().contains(n))
            }
        })
        .collect();
    if chosen.is_empty() {
        return Err(usage(
            format!("no property matches `{}`", args.search.unwrap_or_default()),
            "run `kinetic props` for all of them",
        ));
    }
    if args.format.table() {
        let rows: Vec<Vec<String>> = chosen
            .iter()
            .map(|p| {
                vec![
                    p.name.to_owned(),
                    p.category.title().to_owned(),
                    p.kind.describe(),
                    p.default.unwrap_or("").to_owned(),
                    p.help.to_owned(),
                ]
            })
            .collect();
        // Descriptions are long: print them whole after the table rather than cut.
        let short: Vec<Vec<String>> = rows.iter().map(|r| r[..4].to_vec()).collect();
        output::table(
            &[
                "property".into(),
                "category".into(),
                "type".into(),
                "default".into(),
            ],
            &short,
        )?;
        for r in &rows {
            outln!("{}: {}", r[0], r[4])?;
        }
    } else {
        output::json(&serde_json::Value::Array(
            chosen
                .iter()
                .map(|p| {
                    serde_json::json!({
                        "name": p.name,
                        "aliases": p.aliases,
                        "category": p.category.title(),
                        "type": p.kind.describe(),
                        "default": p.default,
                        "secret": p.secret,
                        "env": p.env_var(),
                        "help": p.help,
                    })
                })
                .collect(),
        ))?;
    }
    Ok(())
}

/// `kinetic oauth ...`: CData's OAuth procedures, for web apps and scripted sign-in.
#[derive(Subcommand)]
pub enum OauthCommand {
    /// GetOAuthAuthorizationURL: print the URL to send the user to. The PKCE verifier and state
    /// are kept in the settings store (OAuthSettingsLocation) for `access-token`.
    AuthorizationUrl(ConnectionArgs),
    /// GetOAuthAccessToken: exchange the code the callback received (OAuthVerifier) for tokens,
    /// keep them (encrypted) in the settings store, and print the access token.
    AccessToken {
        /// The authorization code from the callback (`code=` in CallbackURL's query).
        #[arg(long, value_name = "CODE")]
        verifier: String,
        #[command(flatten)]
        connection: ConnectionArgs,
    },
    /// RefreshOAuthAccessToken: use the stored refresh token now and print the new access token.
    Refresh(ConnectionArgs),
}

/// What the procedures imply: the authorization-code grant, and never a sign-in of their own
/// (the application owns the browser).
const PROCEDURES: &[(&str, &str)] = &[("OAuthGrantType", "CODE"), ("InitiateOAuth", "REFRESH")];
const WHY: &str = "implied by `kinetic oauth`";

pub async fn oauth(command: OauthCommand) -> Result<(), Failure> {
    match command {
        OauthCommand::AuthorizationUrl(c) => {
            let url = epicor_kinetic::auth::interactive::get_oauth_authorization_url(
                &c.settings_implying(PROCEDURES, WHY)?,
            )
            .await?;
            outln!("{url}")?;
        }
        OauthCommand::AccessToken {
            verifier,
            connection,
        } => {
            if verifier.trim().is_empty() {
                return Err(usage(
                    "--verifier is empty",
                    "pass the `code` the callback URL received",
                ));
            }
            let token = epicor_kinetic::auth::interactive::get_oauth_access_token(
                &connection.settings_implying(PROCEDURES, WHY)?,
                verifier.trim(),
            )
            .await?;
            outln!("{}", token.access_token.expose())?;
        }
        OauthCommand::Refresh(c) => {
            let token = epicor_kinetic::auth::interactive::refresh_oauth_access_token(
                &c.settings_implying(PROCEDURES, WHY)?,
            )
            .await?;
            outln!("{}", token.access_token.expose())?;
        }
    }
    Ok(())
}

/// `kinetic config ...`.
#[derive(Subcommand)]
pub enum ConfigCommand {
    /// The effective connection: every property with a value, the value (secrets redacted) and
    /// where it came from (the connection string, an environment variable, a profile, a default).
    ///
    /// Examples:
    ///   kinetic config show    # for KINETIC_CONNECTION
    ///   kinetic config show --whoami
    #[command(verbatim_doc_comment)]
    Show(ConfigShowArgs),
}

#[derive(Args)]
pub struct ConfigShowArgs {
    #[command(flatten)]
    pub connection: ConnectionArgs,
    /// Also sign in and say who the connection is: scheme, user or application, token expiry,
    /// licence.
    #[arg(long)]
    pub whoami: bool,
    /// Output: table on a terminal, JSON when piped.
    #[arg(long, value_enum, default_value_t = Format::Auto)]
    pub format: Format,
}

pub async fn config(command: ConfigCommand) -> Result<(), Failure> {
    let ConfigCommand::Show(args) = command;
    // What the sources say even when they do not make a connection yet (a profile whose
    // password comes later): shown, with why it would not connect.
    let env = ProcessEnv;
    let explained = epicor_kinetic::settings::Settings::explain(
        args.connection.connection.as_deref(),
        args.connection.profile.as_deref(),
        &env,
        &ConfigDir::locate(&env),
    )?;
    for note in &explained.notes {
        eprintln!("note: {note}");
    }
    let problem = explained.problem.as_ref().map(ToString::to_string);
    if let Some(p) = &problem {
        eprintln!("note: these settings do not make a connection yet: {p}");
    }
    let properties: Vec<(&str, &str, String)> = explained
        .properties
        .iter()
        .map(|(name, value, origin)| (*name, value.as_str(), origin.to_string()))
        .collect();
    let who = if args.whoami {
        Some(whoami(&args.connection.settings()?).await?)
    } else {
        None
    };
    if args.format.table() {
        let rows: Vec<Vec<String>> = properties
            .iter()
            .map(|(n, v, o)| vec![(*n).to_owned(), output::cut(v), o.clone()])
            .collect();
        output::table(&["property".into(), "value".into(), "from".into()], &rows)?;
        if let Some(who) = &who {
            for (k, v) in who.as_object().into_iter().flatten() {
                outln!("{k}: {}", output::cell(v))?;
            }
        }
    } else {
        let mut out = serde_json::Map::new();
        out.insert(
            "properties".into(),
            properties
                .iter()
                .map(|(n, v, o)| serde_json::json!({"property": n, "value": v, "from": o}))
                .collect(),
        );
        if let Some(who) = who {
            out.insert("whoami".into(), who);
        }
        if let Some(p) = problem {
            out.insert("problem".into(), p.into());
        }
        output::json(&serde_json::Value::Object(out))?;
    }
    Ok(())
}

/// Who the connection signs in as: the scheme, the user (or application) the token names, its
/// expiry, and the licence claimed. The token's claims are read for display only (the server
/// verifies them); the token itself is never printed.
async fn whoami(settings: &epicor_kinetic::Settings) -> Result<serde_json::Value, Failure> {
    use base64::Engine;
    let connection = epicor_kinetic::Connection::open(settings.clone()).await?;
    let mut who = serde_json::Map::new();
    who.insert("scheme".into(), settings.auth.scheme.to_string().into());
    who.insert(
        "licence".into(),
        settings.auth.license_type.to_string().into(),
    );
    if let Some(user) = &settings.auth.user {
        who.insert("user".into(), user.clone().into());
    }
    if settings.auth.scheme != epicor_kinetic::settings::AuthScheme::None {
        let token = connection.access_token().await?;
        let claims = token
            .expose()
            .split('.')
            .nth(1)
            .and_then(|p| {
                base64::engine::general_purpose::URL_SAFE_NO_PAD
                    .decode(p.trim_end_matches('='))
                    .ok()
            })
            .and_then(|b| serde_json::from_slice::<serde_json::Value>(&b).ok());
        if let Some(c) = claims {
            for (name, keys) in [
                (
                    "signed in as",
                    &["upn", "preferred_username", "unique_name", "email", "name"][..],
                ),
                ("application", &["appid", "azp", "client_id"][..]),
                ("subject", &["sub"][..]),
            ] {
                if let Some(v) = keys.iter().find_map(|k| c.get(*k).and_then(|v| v.as_str())) {
                    who.insert(name.into(), v.into());
                }
            }
            if let Some(exp) = c.get("exp").and_then(serde_json::Value::as_u64) {
                let now = std::time::SystemTime::now()
                    .duration_since(std::time::UNIX_EPOCH)
                    .map(|d| d.as_secs())
                    .unwrap_or(0);
                who.insert(
                    "token expires in".into(),
                    format!("{} s", exp.saturating_sub(now)).into(),
                );
            }
        }
    }
    let _ = connection.close().await;
    Ok(serde_json::Value::Object(who))
}
