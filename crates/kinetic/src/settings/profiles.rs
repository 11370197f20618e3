//! Named profiles: stored connection settings in `{config dir}/profiles.toml`.
//!
//! The file holds one table per profile. A table lists properties (names or aliases, any case),
//! or a whole `connection` string, or both (a property may not be given twice):
//!
//! ```toml
//! [prod]
//! URL = "https://erp.example.com"
//! ERPInstance = "Kinetic"
//! User = "integration"
//! ApiVersion = "v2"
//! Company = "EPIC06"
//!
//! [emulator]
//! connection = "URL=http://127.0.0.1:8040;ERPInstance=Kinetic;User=manager;Password=Epicor123!"
//! ```
//!
//! The file may hold secrets, so it is written with mode 0600 (its directory 0700), atomically
//! (a crash leaves the old file or the new one). It is rewritten whole: comments are not kept.

use std::path::PathBuf;

use zeroize::Zeroizing;

use super::registry::{lookup, PROPERTIES};
use super::sources::ConfigFiles;
use super::values::{check, may_echo};
use super::{grammar, layer_from_string, Layer, Origin, Value};
use crate::error::{Error, Result};
use crate::secret::REDACTED;

/// The profiles file's name inside the configuration directory.
pub const PROFILES_FILE: &str = "profiles.toml";

/// The key in a profile table that holds a whole connection string.
pub const CONNECTION_KEY: &str = "connection";

/// One property of a profile as `show` prints it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ShownProperty {
    /// The property's canonical name.
    pub property: &'static str,
    /// The value, or `[redacted]` for a secret.
    pub value: String,
}

/// The profiles file's path.
pub fn profiles_path(files: &dyn ConfigFiles) -> Result<PathBuf> {
    files.dir().map(|d| d.join(PROFILES_FILE)).ok_or_else(|| {
        Error::invalid_settings(
            "Profile",
            "there is no configuration directory (no home directory was found)",
            "set KINETIC_CONFIG_DIR to a directory for kinetic's profiles",
        )
    })
}

/// The names of every profile, sorted. No file means no profiles.
pub fn list(files: &dyn ConfigFiles) -> Result<Vec<String>> {
    let path = profiles_path(files)?;
    let table = read_table(files, &path)?;
    let mut names: Vec<String> = table.keys().cloned().collect();
    names.sort();
    Ok(names)
}

/// The properties of profile `name` in registry order, secrets redacted.
pub fn show(files: &dyn ConfigFiles, name: &str) -> Result<Vec<ShownProperty>> {
    let layer = load(files, name)?;
    Ok(PROPERTIES
        .iter()
        .filter_map(|p| {
            let value = layer.get(p.name)?;
            Some(ShownProperty {
                property: p.name,
                value: if p.secret {
                    REDACTED.to_owned()
                } else {
                    value.text.as_str().to_owned()
                },
            })
        })
        .collect())
}

/// Stores `connection` as profile `name`, replacing a profile of that name only if `replace`.
///
/// Every key must be a known property, given once, with a value of its type; the combination is
/// not checked, since a profile may leave parts (a password) to other sources. Properties are
/// stored one per key, under their canonical names.
pub fn add(files: &dyn ConfigFiles, name: &str, connection: &str, replace: bool) -> Result<()> {
    check_profile_name(name)?;
    let path = profiles_path(files)?;
    let origin = Origin::Profile {
        name: name.to_owned(),
        path: path.clone(),
    };
    let layer = layer_from_string(connection, &origin)?;
    for (property_name, value) in &layer {
        let (Some(property), text) = (lookup(property_name), value.text.as_str()) else {
            continue;
        };
        if text.is_empty() {
            continue;
        }
        if let Err(refusal) = check(property, text) {
            let got = if may_echo(property, text) {
                format!(", not `{text}`")
            } else {
                String::new()
            };
            return Err(Error::invalid_settings(
                property.name,
                format!("`{}` in {origin} must {}{got}", property.name, refusal.must),
                refusal.hint,
            ));
        }
    }
    let mut table = read_table(files, &path)?;
    if table.contains_key(name) && !replace {
        return Err(config_error(
            path,
            format!("already has a profile `{name}`; replace it explicitly, or remove it first"),
        ));
    }
    let mut profile = toml::Table::new();
    for p in PROPERTIES {
        if let Some(value) = layer.get(p.name) {
            profile.insert(
                p.name.to_owned(),
                toml::Value::String(value.text.as_str().to_owned()),
            );
        }
    }
    table.insert(name.to_owned(), toml::Value::Table(profile));
    write_table(files, &path, &table)
}

/// Removes profile `name`; `false` when there was none.
pub fn remove(files: &dyn ConfigFiles, name: &str) -> Result<bool> {
    let path = profiles_path(files)?;
    let mut table = read_table(files, &path)?;
    if table.remove(name).is_none() {
        return Ok(false);
    }
    write_table(files, &path, &table)?;
    Ok(true)
}

/// Profile `name` as a settings layer. A missing file or profile is an error that lists the
/// profiles there are.
pub(super) fn load(files: &dyn ConfigFiles, name: &str) -> Result<Layer> {
    let path = profiles_path(files)?;
    let table = read_table(files, &path)?;
    let Some(entry) = table.get(name) else {
        let mut names: Vec<&str> = table.keys().map(String::as_str).collect();
        names.sort_unstable();
        let there = if names.is_empty() {
            "there are none".to_owned()
        } else {
            format!("there are: {}", names.join(", "))
        };
        return Err(config_error(
            path,
            format!("has no profile `{name}` ({there}); add it with `kinetic profile add {name} \"URL=...;...\"`"),
        ));
    };
    let origin = Origin::Profile {
        name: name.to_owned(),
        path: path.clone(),
    };
    let Some(profile) = entry.as_table() else {
        return Err(config_error(
            path,
            format!("`{name}` must be a table of properties ([{name}] followed by Name = \"value\" lines)"),
        ));
    };

    let mut layer = Layer::new();
    // The `connection` string first, so a property also given as its own key is caught as a
    // duplicate below.
    for (key, value) in profile {
        if key.eq_ignore_ascii_case(CONNECTION_KEY) {
            let Some(text) = value.as_str() else {
                return Err(config_error(
                    path,
                    format!("`{CONNECTION_KEY}` of profile `{name}` must be a string"),
                ));
            };
            layer = layer_from_string(text, &origin)?;
        }
    }
    for (key, value) in profile {
        if key.eq_ignore_ascii_case(CONNECTION_KEY) {
            continue;
        }
        let Some(property) = lookup(key) else {
            let pair = grammar::Pair {
                key: key.clone(),
                position: 0,
                value: Zeroizing::new(String::new()),
                after_bare_secret: None,
            };
            return Err(super::unknown_property(&pair, &origin));
        };
        let text = match value {
            toml::Value::String(s) => s.clone(),
            toml::Value::Integer(n) => n.to_string(),
            toml::Value::Boolean(b) => b.to_string(),
            _ => {
                return Err(Error::invalid_settings(
                    property.name,
                    format!(
                        "`{}` in {origin} must be a string, number or boolean",
                        property.name
                    ),
                    format!("write it as {} = \"value\"", property.name),
                ))
            }
        };
        if layer.contains_key(property.name) {
            return Err(Error::invalid_settings(
                property.name,
                format!(
                    "`{}` is given twice in {origin} (in `{CONNECTION_KEY}` and as a key)",
                    property.name
                ),
                "keep one of them",
            ));
        }
        layer.insert(
            property.name,
            Value {
                text: Zeroizing::new(text),
                origin: origin.clone(),
            },
        );
    }
    Ok(layer)
}

fn check_profile_name(name: &str) -> Result<()> {
    let ok = !name.is_empty()
        && name.len() <= 64
        && name
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.'));
    if ok {
        Ok(())
    } else {
        Err(Error::invalid_settings(
            "Profile",
            "a profile name must be 1 to 64 letters, digits, `-`, `_` or `.`",
            "choose a name like prod, test-epic06 or emulator",
        ))
    }
}

fn read_table(files: &dyn ConfigFiles, path: &std::path::Path) -> Result<toml::Table> {
    let text = files.read(path).map_err(|e| Error::ConfigFile {
        path: path.to_owned(),
        message: format!("cannot be read: {e}"),
        source: Some(std::sync::Arc::new(e)),
    })?;
    let Some(text) = text.map(Zeroizing::new) else {
        return Ok(toml::Table::new());
    };
    toml::from_str::<toml::Table>(&text).map_err(|e| {
        // Only the position and the parser's short message: its full text quotes the line, which
        // may hold a secret.
        let at = e
            .span()
            .map(|span| {
                let before = text.get(..span.start).unwrap_or("");
                let line = before.matches('\n').count() + 1;
                let column = before.rsplit('\n').next().map_or(0, |l| l.chars().count()) + 1;
                format!(" at line {line}, column {column}")
            })
            .unwrap_or_default();
        config_error(
            path.to_owned(),
            format!("is not valid TOML{at}: {}", e.message()),
        )
    })
}

fn write_table(files: &dyn ConfigFiles, path: &std::path::Path, table: &toml::Table) -> Result<()> {
    let body = toml::to_string(table)
        .map(Zeroizing::new)
        .map_err(|e| config_error(path.to_owned(), format!("cannot be written: {e}")))?;
    let text = Zeroizing::new(format!(
        "# kinetic connection profiles: one [table] per profile, written by `kinetic profile`.\n\
         # It may hold passwords and keys: keep it readable by you only (mode 0600).\n\n{}",
        body.as_str()
    ));
    files
        .write_private(path, &text)
        .map_err(|e| Error::ConfigFile {
            path: path.to_owned(),
            message: format!("cannot be written: {e}"),
            source: Some(std::sync::Arc::new(e)),
        })
}

fn config_error(path: PathBuf, message: String) -> Error {
    Error::ConfigFile {
        path,
        message,
        source: None,
    }
}
