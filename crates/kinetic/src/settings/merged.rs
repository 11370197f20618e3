//! The merged sources' values, read one property at a time and checked against the registry.

use std::cell::RefCell;
use std::collections::{BTreeMap, BTreeSet};
use std::path::PathBuf;

use crate::error::{Error, Result};
use crate::secret::Secret;

use super::registry::{lookup, Kind, Property, PROPERTIES};
use super::types::{LicenseType, Thumbprint};
use super::values::{check, may_echo, Checked};
use super::{is_loopback_http, Layer, Origin};

/// The merged values, read one property at a time.
pub(super) struct Values {
    pub(super) layer: Layer,
    /// Which properties were read, so a test can prove every registry property reaches `Settings`.
    pub(super) read: RefCell<BTreeSet<&'static str>>,
}

impl Values {
    /// The property's value and where it came from: the given value when non-empty, else the
    /// default.
    pub(super) fn raw(
        &self,
        name: &'static str,
    ) -> Result<Option<(&'static Property, &str, &Origin)>> {
        let property = lookup(name).ok_or_else(|| {
            // Only reachable if the code names a property the registry lacks; a test covers it.
            Error::invalid_settings(
                name,
                format!("`{name}` is not in the property registry"),
                "report this as a bug",
            )
        })?;
        self.read.borrow_mut().insert(property.name);
        // Not trimmed: a quoted value keeps its spaces. Bare values were trimmed by the grammar.
        let given = self
            .layer
            .get(property.name)
            .map(|v| (v.text.as_str(), &v.origin))
            .filter(|(t, _)| !t.is_empty());
        Ok(given
            .or(property.default.map(|d| (d, &Origin::Default)))
            .map(|(t, o)| (property, t, o)))
    }

    /// Whether a source (not the default) sets `name` to a non-empty value.
    pub(super) fn given(&self, name: &str) -> bool {
        lookup(name)
            .and_then(|p| self.layer.get(p.name))
            .is_some_and(|v| !v.text.is_empty())
    }

    pub(super) fn checked(&self, name: &'static str) -> Result<Option<(Checked, &str)>> {
        let Some((property, text, origin)) = self.raw(name)? else {
            return Ok(None);
        };
        // Typed values forgive stray spaces (`KINETIC_TIMEOUT=" 30"`); text and secrets do not.
        let text = match property.kind {
            Kind::Text | Kind::Secret | Kind::Path => text,
            _ => text.trim(),
        };
        match check(property, text) {
            Ok(c) => Ok(Some((c, text))),
            Err(refusal) => {
                let got = if may_echo(property, text) {
                    format!(", not `{text}`")
                } else {
                    String::new()
                };
                let from = match origin {
                    Origin::Default => String::new(),
                    o => format!(" in {o}"),
                };
                Err(Error::invalid_settings(
                    property.name,
                    format!("`{}`{from} must {}{got}", property.name, refusal.must),
                    refusal.hint,
                ))
            }
        }
    }

    pub(super) fn text(&self, name: &'static str) -> Result<Option<String>> {
        Ok(self.checked(name)?.map(|(_, t)| t.to_owned()))
    }

    pub(super) fn path(&self, name: &'static str) -> Result<Option<PathBuf>> {
        Ok(self.text(name)?.map(PathBuf::from))
    }

    pub(super) fn secret(&self, name: &'static str) -> Result<Option<Secret>> {
        Ok(self.checked(name)?.map(|(_, t)| Secret::new(t)))
    }

    pub(super) fn url(&self, name: &'static str) -> Result<Option<String>> {
        Ok(self.checked(name)?.and_then(|(c, _)| match c {
            Checked::Url(u) => Some(u),
            _ => None,
        }))
    }

    /// An address that credentials or tokens travel to: `https://`, or `http://` only to this
    /// machine's loopback (a local test server such as the emulator). Plain http to anywhere else
    /// would send passwords and secrets in clear.
    pub(super) fn secure_url(&self, name: &'static str) -> Result<Option<String>> {
        let lab = self.bool("InsecureHttpForLab")?.unwrap_or(false);
        let Some(url) = self.url(name)? else {
            return Ok(None);
        };
        if url.starts_with("https://") || is_loopback_http(&url) || lab {
            return Ok(Some(url));
        }
        let from = match self.raw(name)? {
            Some((_, _, Origin::Default)) | None => String::new(),
            Some((_, _, o)) => format!(" in {o}"),
        };
        Err(Error::invalid_settings(
            name,
            format!("`{name}`{from} is a plain http:// address of another machine ({url}): passwords, secrets and tokens would travel in clear"),
            format!("use https:// for {name} (http:// is accepted for this machine's loopback address, e.g. a local emulator, or on a closed lab network with InsecureHttpForLab=true)"),
        ))
    }

    pub(super) fn bool(&self, name: &'static str) -> Result<Option<bool>> {
        Ok(self.checked(name)?.and_then(|(c, _)| match c {
            Checked::Bool(b) => Some(b),
            _ => None,
        }))
    }

    pub(super) fn int(&self, name: &'static str) -> Result<Option<i64>> {
        Ok(self.checked(name)?.and_then(|(c, _)| match c {
            Checked::Int(n) => Some(n),
            _ => None,
        }))
    }

    /// A non-negative number that the registry's range keeps within `u32`.
    pub(super) fn u32(&self, name: &'static str, fallback: u32) -> Result<u32> {
        Ok(self
            .int(name)?
            .and_then(|n| u32::try_from(n).ok())
            .unwrap_or(fallback))
    }

    pub(super) fn choice<T>(
        &self,
        name: &'static str,
        from_name: fn(&str) -> Option<T>,
    ) -> Result<Option<T>> {
        Ok(self.checked(name)?.and_then(|(c, _)| match c {
            Checked::Choice(v) => from_name(v),
            _ => None,
        }))
    }

    pub(super) fn license(&self, name: &'static str) -> Result<Option<LicenseType>> {
        Ok(self.checked(name)?.and_then(|(c, _)| match c {
            Checked::License(l) => Some(l),
            _ => None,
        }))
    }

    pub(super) fn thumbprint(&self, name: &'static str) -> Result<Option<Thumbprint>> {
        Ok(self.checked(name)?.and_then(|(c, _)| match c {
            Checked::Thumbprint(t) => Some(t),
            _ => None,
        }))
    }

    pub(super) fn azure_tenant(&self) -> Result<Option<String>> {
        let tenant = self.text("AzureTenant")?;
        if tenant
            .as_deref()
            .is_some_and(|t| t.contains(['/', ' ', '?', '#']))
        {
            return Err(settings_error(
                "AzureTenant",
                "`AzureTenant` must be a tenant id or domain, not an address",
                "set AzureTenant to the tenant's id (a GUID) or domain, e.g. contoso.onmicrosoft.com; put a full authority in OAuthAuthority",
            ));
        }
        Ok(tenant)
    }

    pub(super) fn shown(&self) -> BTreeMap<&'static str, String> {
        let mut shown: BTreeMap<&'static str, String> = PROPERTIES
            .iter()
            .filter_map(|p| p.default.map(|d| (p.name, d.to_owned())))
            .collect();
        for (name, value) in &self.layer {
            if value.text.is_empty() {
                continue;
            }
            let secret = lookup(name).is_some_and(|p| p.secret);
            shown.insert(
                name,
                if secret {
                    crate::secret::REDACTED.to_owned()
                } else {
                    value.text.to_string()
                },
            );
        }
        shown
    }

    pub(super) fn origins(&self) -> BTreeMap<&'static str, Origin> {
        let mut origins: BTreeMap<&'static str, Origin> = PROPERTIES
            .iter()
            .filter(|p| p.default.is_some())
            .map(|p| (p.name, Origin::Default))
            .collect();
        for (name, value) in &self.layer {
            if value.text.is_empty() {
                continue; // unset at that level: the default (if any) stands
            }
            origins.insert(name, value.origin.clone());
        }
        origins
    }
}

pub(super) fn settings_error(
    property: &str,
    message: impl Into<String>,
    hint: impl Into<String>,
) -> Error {
    Error::invalid_settings(property, message, hint)
}
