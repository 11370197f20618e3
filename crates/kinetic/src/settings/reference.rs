//! The Markdown property reference, generated from the registry.
//!
//! `crates/kinetic/PROPERTIES.md` is this output, committed. The test `reference_is_up_to_date`
//! fails when they differ; `KINETIC_UPDATE_REFERENCE=1 cargo test -p epicor-kinetic reference` rewrites
//! the file.

use std::fmt::Write as _;

use super::registry::{value_aliases, Category, Kind, PROPERTIES};
use super::{CONNECTION_VAR, PROFILE_VAR};
use crate::settings::sources::CONFIG_DIR_VAR;

/// The property reference, in Markdown.
pub fn markdown() -> String {
    let mut out = String::new();
    // `write!` into a String cannot fail; the results are ignored for that reason.
    let _ = writeln!(
        out,
        "# Connection properties\n\n\
         <!-- Generated from crates/kinetic/src/settings/registry.rs by `KINETIC_UPDATE_REFERENCE=1 cargo test -p epicor-kinetic reference`. Do not edit. -->\n\n\
         A connection string is `Name=Value` pairs separated by `;`, e.g.\n\n\
         ```text\n\
         URL=https://erp.example.com;ERPInstance=Kinetic;User=manager;Password={{p;w}};ApiVersion=v2;Company=EPIC06;ApiKey=...\n\
         ```\n\n\
         - Names are case-insensitive; aliases are accepted everywhere a name is. CData's names are used, so an existing CData string can be pasted.\n\
         - Values may be quoted with `\"...\"`, `'...'` or `{{...}}`; inside quotes `;` and `=` are literal, and a doubled closing quote (`\"\"`, `''`, `}}}}`) stands for one. Whitespace around names and unquoted values is trimmed.\n\
         - Empty pairs are ignored. A property given twice in one string is an error. An empty value (`Company=`) unsets the property.\n\
         - Unknown properties, bad values, missing required properties and combinations that cannot work are errors before any network call; the message names the property and what to set.\n\
         - Secret values are never printed, logged or echoed in errors.\n"
    );
    let _ = writeln!(
        out,
        "## Where settings come from\n\n\
         Sources are merged property by property; for each property the first source that sets it wins:\n\n\
         1. the connection string given explicitly (`--connection`, or the program's argument);\n\
         2. environment variables `KINETIC_<PROPERTY>`, one per property (the name in capitals, listed below), e.g. `KINETIC_PASSWORD`;\n\
         3. the environment variable `{CONNECTION_VAR}`, a whole connection string;\n\
         4. the named profile (`--profile NAME`, else `{PROFILE_VAR}`) in `profiles.toml` in the configuration directory;\n\
         5. the default below.\n\n\
         More specific, more deliberate sources rank higher: one `KINETIC_PASSWORD` injected by a secret manager beats a whole string that carries an old password, and a profile can hold everything but the secrets. Empty environment variables are ignored.\n\n\
         The configuration directory is `${CONFIG_DIR_VAR}` when set, else `$XDG_CONFIG_HOME/kinetic`, else `~/.config/kinetic` (Windows: `%APPDATA%\\kinetic`). `profiles.toml` has a table per profile, of properties or a `connection` string; it is written with mode 0600.\n\n\
         ## Rules between properties\n\n\
         - `URL` and `ERPInstance` are always required; `ApiVersion=v2` requires `Company` (and the server usually requires `ApiKey`).\n\
         - `AuthScheme` `Basic` and `Token` require `User` and `Password`.\n\
         - `AuthScheme` `AzureAD` and `OAuth`: with `InitiateOAuth=OFF` and a `CODE` or `DEVICE` grant the connector only uses `OAuthAccessToken`, which is then required. Otherwise (it gets tokens itself; `CLIENT` and `OBO` always do, as they need no person) `OAuthClientId` and `Scope` are required, plus `AzureTenant` (or a tenant at the end of `OAuthAuthority`) for `AzureAD`, or `OAuthIssuer` (or `OAuthAuthority`) for `OAuth`. `Scope` has no default: it names your Epicor server's app registration.\n\
         - `OAuthGrantType=CLIENT` requires `OAuthClientSecret` or `OAuthJWTCert` (not both); `OBO` requires one of them too, and `OAuthUserAssertion` to open a connection by itself (a web app's client settings leave it out: `Client::on_behalf_of` takes each user's token). `InitiateOAuth=REFRESH` with `CODE` or `DEVICE` requires `OAuthRefreshToken`, `OAuthSettingsLocation` or `OAuthVerifier`.\n\
         - `OAuthJWTCertType`, `OAuthJWTCertPassword` and `OAuthJWTCertThumbprint` require `OAuthJWTCert`.\n\
         - `ProxyPort`, `ProxyUser` and `ProxyPassword` require `ProxyServer`; `ProxyUser` and `ProxyPassword` go together.\n"
    );
    for category in Category::ALL {
        let _ = writeln!(out, "## {}\n", category.title());
        out.push_str("| Property | Aliases | Type | Default | Secret | Environment variable | Description |\n");
        out.push_str("|---|---|---|---|---|---|---|\n");
        for p in PROPERTIES.iter().filter(|p| p.category == category) {
            let aliases = p
                .aliases
                .iter()
                .map(|a| format!("`{a}`"))
                .collect::<Vec<_>>()
                .join(", ");
            let default = p.default.map(|d| format!("`{d}`")).unwrap_or_default();
            let _ = writeln!(
                out,
                "| `{}` | {} | {} | {} | {} | `{}` | {} |",
                p.name,
                aliases,
                cell(&type_text(p.name, &p.kind)),
                default,
                if p.secret { "yes" } else { "" },
                p.env_var(),
                cell(p.help),
            );
        }
        out.push('\n');
    }
    // One trailing newline, as editors leave it.
    while out.ends_with("\n\n") {
        out.pop();
    }
    out
}

/// A type as the table shows it, with value aliases: "one of `Basic`, `AzureAD` (`EntraID`)".
fn type_text(property: &str, kind: &Kind) -> String {
    let list = |values: &[&str]| {
        values
            .iter()
            .map(|v| {
                let aliases = value_aliases(property, v);
                if aliases.is_empty() {
                    format!("`{v}`")
                } else {
                    let aliases: Vec<String> = aliases.iter().map(|a| format!("`{a}`")).collect();
                    format!("`{v}` (also {})", aliases.join(", "))
                }
            })
            .collect::<Vec<_>>()
            .join(", ")
    };
    match kind {
        Kind::Enum(values) => format!("one of {}", list(values)),
        Kind::EnumOrGuid(values) => format!("one of {}, or a GUID", list(values)),
        other => other.describe(),
    }
}

/// Text safe inside a Markdown table cell.
fn cell(text: &str) -> String {
    text.replace('|', "\\|")
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::path::Path;

    #[test]
    fn reference_is_up_to_date() {
        let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("PROPERTIES.md");
        let generated = markdown();
        if std::env::var_os("KINETIC_UPDATE_REFERENCE").is_some() {
            if let Err(e) = std::fs::write(&path, &generated) {
                panic!("cannot write {}: {e}", path.display());
            }
            return;
        }
        let committed = std::fs::read_to_string(&path).unwrap_or_default();
        assert!(
            committed == generated,
            "{} is out of date with the property registry; regenerate it with\n    \
             KINETIC_UPDATE_REFERENCE=1 cargo test -p epicor-kinetic reference\nand commit it.",
            path.display()
        );
    }

    #[test]
    fn every_property_and_its_env_var_is_listed() {
        let md = markdown();
        for p in PROPERTIES {
            assert!(md.contains(&format!("| `{}` |", p.name)), "{}", p.name);
            assert!(md.contains(&p.env_var()), "{}", p.name);
        }
        assert!(md.contains("`AzureAD` (also `AzureADOpenID`, `EntraID`)"));
        assert!(md.contains(CONNECTION_VAR));
    }
}
