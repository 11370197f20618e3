//! The emulator's configuration: built-in defaults, a TOML file (`--config`), then command-line flags.

use serde::{Deserialize, Serialize};
use std::path::{Path, PathBuf};

/// Everything the emulator needs to start. `Default` is the built-in demo configuration.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct EmulatorConfig {
    /// The ERP instance name: the first path segment (`https://host/{instance}/api/v1/...`).
    pub instance: String,
    /// Companies in the demo data. The first is the default company.
    pub companies: Vec<CompanyConfig>,
    /// Demo users (Epicor user ids and passwords).
    pub users: Vec<UserConfig>,
    /// API keys accepted on v2 routes.
    pub api_keys: Vec<ApiKeyConfig>,
    /// Server-side page cap: at most this many rows per entity-set page (0 = no cap).
    pub page_cap: usize,
    /// Answer capped pages with `@odata.nextLink` (v2) / `odata.nextLink` (v1).
    pub next_link: bool,
    /// Number of sales order lines to generate.
    pub scale: u64,
    /// Seed of the deterministic data generator.
    pub seed: u64,
    /// Keep the database in this file between runs (default: a temporary file removed on exit).
    pub db: Option<PathBuf>,
}

/// A company of the demo data.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CompanyConfig {
    pub id: String,
    pub name: String,
}

/// An Epicor user.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct UserConfig {
    pub id: String,
    pub password: String,
    #[serde(default)]
    pub name: String,
    /// The company used when a call names none (defaults to the first company).
    #[serde(default)]
    pub default_company: Option<String>,
}

/// An API key for the v2 routes.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ApiKeyConfig {
    pub key: String,
    #[serde(default)]
    pub name: String,
}

/// The default demo API key. Fixed, so that demo connection strings can be copied between runs.
pub const DEFAULT_API_KEY: &str = "kinetic-demo-api-key-0000000000000000";

impl Default for EmulatorConfig {
    fn default() -> Self {
        EmulatorConfig {
            instance: "Kinetic".into(),
            companies: vec![
                CompanyConfig {
                    id: "EPIC06".into(),
                    name: "Epicor Education".into(),
                },
                CompanyConfig {
                    id: "EPIC03".into(),
                    name: "Epicor Manufacturing".into(),
                },
            ],
            users: vec![
                UserConfig {
                    id: "manager".into(),
                    password: "Epicor123!".into(),
                    name: "Demo Manager".into(),
                    default_company: None,
                },
                UserConfig {
                    id: "integration".into(),
                    password: "Integration123!".into(),
                    name: "Integration User".into(),
                    default_company: None,
                },
            ],
            api_keys: vec![ApiKeyConfig {
                key: DEFAULT_API_KEY.into(),
                name: "demo".into(),
            }],
            page_cap: 100,
            next_link: false,
            scale: 5_000,
            seed: 6,
            db: None,
        }
    }
}

/// A configuration file that cannot be used.
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    #[error("cannot read emulator config {path}: {source}")]
    Read {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("invalid emulator config {path}: {message}")]
    Invalid { path: PathBuf, message: String },
}

impl EmulatorConfig {
    /// Reads a TOML file; missing keys keep their defaults, unknown keys are an error.
    pub fn from_file(path: &Path) -> Result<Self, ConfigError> {
        let text = std::fs::read_to_string(path).map_err(|source| ConfigError::Read {
            path: path.to_owned(),
            source,
        })?;
        let config: EmulatorConfig = toml::from_str(&text).map_err(|e| ConfigError::Invalid {
            path: path.to_owned(),
            message: e.to_string(),
        })?;
        config.validate().map_err(|message| ConfigError::Invalid {
            path: path.to_owned(),
            message,
        })?;
        Ok(config)
    }

    /// Checks what serde cannot.
    pub fn validate(&self) -> Result<(), String> {
        if self.companies.is_empty() {
            return Err("at least one company is required ([[companies]] id = \"EPIC06\")".into());
        }
        if self.instance.is_empty() || self.instance.contains('/') {
            return Err(format!(
                "instance `{}` must be one non-empty path segment, e.g. \"Kinetic\"",
                self.instance
            ));
        }
        for c in &self.companies {
            if c.id.is_empty() || c.id.len() > 8 {
                return Err(format!("company id `{}` must be 1 to 8 characters", c.id));
            }
        }
        for u in &self.users {
            if let Some(dc) = &u.default_company {
                if !self.companies.iter().any(|c| &c.id == dc) {
                    return Err(format!(
                        "user `{}` has default_company `{dc}`, which is not among the companies",
                        u.id
                    ));
                }
            }
        }
        Ok(())
    }

    /// The company used when a call names none.
    pub fn default_company(&self) -> &str {
        &self.companies[0].id
    }

    pub fn has_company(&self, id: &str) -> bool {
        self.companies.iter().any(|c| c.id == id)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn write(text: &str) -> (tempfile::TempDir, PathBuf) {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("emulator.toml");
        std::fs::write(&path, text).unwrap();
        (dir, path)
    }

    #[test]
    fn toml_overrides_defaults_and_keeps_the_rest() {
        let (_d, path) = write(
            "instance = \"ERP11\"\npage_cap = 25\n[[users]]\nid = \"alice\"\npassword = \"pw\"\n",
        );
        let c = EmulatorConfig::from_file(&path).unwrap();
        assert_eq!(c.instance, "ERP11");
        assert_eq!(c.page_cap, 25);
        assert_eq!(c.users.len(), 1);
        assert_eq!(c.users[0].id, "alice");
        assert_eq!(c.companies.len(), 2, "companies keep their default");
    }

    #[test]
    fn bad_files_name_the_problem() {
        let (_d, path) = write("pagecap = 3\n");
        let e = EmulatorConfig::from_file(&path).unwrap_err().to_string();
        assert!(e.contains("unknown field `pagecap`"), "{e}");
        let (_d, path) = write("companies = []\n");
        let e = EmulatorConfig::from_file(&path).unwrap_err().to_string();
        assert!(e.contains("at least one company"), "{e}");
        let (_d, path) =
            write("[[users]]\nid = \"u\"\npassword = \"p\"\ndefault_company = \"NOPE\"\n");
        let e = EmulatorConfig::from_file(&path).unwrap_err().to_string();
        assert!(e.contains("default_company `NOPE`"), "{e}");
        let e = EmulatorConfig::from_file(Path::new("/nonexistent/x.toml"))
            .unwrap_err()
            .to_string();
        assert!(
            e.contains("cannot read emulator config /nonexistent/x.toml"),
            "{e}"
        );
    }
}
