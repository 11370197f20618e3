//! API keys of the v2 routes: `x-api-key` header or `api-key` query parameter, optional expiry, optional
//! access scope (services, methods, BAQs, functions). Missing or unknown: 401; outside the scope: 403.

use super::unauthorized;
use crate::api_error::{kind, ApiError};
use crate::clock::parse_rfc3339;
use crate::config::{ApiKeyConfig, ApiKeyScope};
use axum::http::{HeaderMap, StatusCode};
use subtle::ConstantTimeEq;

#[derive(Debug, Clone)]
struct Key {
    key: String,
    name: String,
    expires: Option<i64>,
    scope: Option<ApiKeyScope>,
}

/// The configured keys.
#[derive(Debug, Clone)]
pub struct ApiKeys {
    keys: Vec<Key>,
}

/// What a v2 call reaches, for scope checks.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Target {
    /// Lists and documents that reach no data (service lists, `$metadata`).
    Listing,
    /// An entity set of a service, or the service itself.
    Service(String),
    /// A BO method.
    Method {
        service: String,
        method: String,
    },
    Baq(String),
    Function {
        library: String,
        function: String,
    },
}

impl Target {
    fn describe(&self) -> String {
        match self {
            Target::Listing => "listings".into(),
            Target::Service(s) => format!("service {s}"),
            Target::Method { service, method } => format!("method {service}/{method}"),
            Target::Baq(b) => format!("BAQ {b}"),
            Target::Function { library, function } => format!("function {library}/{function}"),
        }
    }
}

fn allowed(scope: &ApiKeyScope, target: &Target) -> bool {
    match target {
        Target::Listing => true,
        Target::Service(s) => scope.services.iter().any(|x| x == s),
        Target::Method { service, method } => {
            scope.services.iter().any(|x| x == service)
                || scope
                    .methods
                    .iter()
                    .any(|x| *x == format!("{service}/{method}"))
        }
        Target::Baq(b) => scope.baqs.iter().any(|x| x == b),
        Target::Function { library, function } => scope
            .functions
            .iter()
            .any(|x| x == library || *x == format!("{library}/{function}")),
    }
}

impl ApiKeys {
    pub fn new(config: &[ApiKeyConfig]) -> ApiKeys {
        ApiKeys {
            keys: config
                .iter()
                .map(|k| Key {
                    key: k.key.clone(),
                    name: k.name.clone(),
                    expires: k.expires.as_deref().and_then(parse_rfc3339),
                    scope: k.scope.clone(),
                })
                .collect(),
        }
    }

    /// The key a request carries, from the `x-api-key` header or the `api-key` query parameter.
    pub fn presented(headers: &HeaderMap, query: &str) -> Option<String> {
        if let Some(v) = headers.get("x-api-key").and_then(|v| v.to_str().ok()) {
            return Some(v.to_string());
        }
        query.split('&').find_map(|pair| {
            let (k, v) = pair.split_once('=')?;
            k.eq_ignore_ascii_case("api-key").then(|| {
                percent_encoding::percent_decode_str(v)
                    .decode_utf8_lossy()
                    .into_owned()
            })
        })
    }

    /// Checks the presented key is known and not expired (401 otherwise).
    pub fn check(&self, presented: Option<&str>, now: i64) -> Result<KeyGrant, ApiError> {
        let Some(p) = presented else {
            return Err(unauthorized(
                "An API key is required on v2 routes: send it as the x-api-key header (set ApiKey)",
            ));
        };
        // Compare in constant time per key, so the answer time does not leak how much matched.
        let key = self
            .keys
            .iter()
            .find(|k| bool::from(k.key.as_bytes().ct_eq(p.as_bytes())))
            .ok_or_else(|| {
                unauthorized("The API key is not valid for this server; check ApiKey")
            })?;
        if key.expires.is_some_and(|t| t <= now) {
            return Err(unauthorized(format!(
                "The API key `{}` has expired; create a new key and set ApiKey",
                key.name
            )));
        }
        Ok(KeyGrant {
            name: key.name.clone(),
            scope: key.scope.clone(),
        })
    }
}

/// A key that passed: its scope is checked per target.
#[derive(Debug, Clone)]
pub struct KeyGrant {
    pub name: String,
    scope: Option<ApiKeyScope>,
}

impl KeyGrant {
    /// 403 when the key's scope does not include the target.
    pub fn authorize(&self, target: &Target) -> Result<(), ApiError> {
        match &self.scope {
            None => Ok(()),
            Some(s) if allowed(s, target) => Ok(()),
            Some(_) => Err(ApiError::new(
                StatusCode::FORBIDDEN,
                kind::UNAUTHORIZED,
                format!(
                    "The API key `{}` is not allowed to call {}; extend its access scope",
                    self.name,
                    target.describe()
                ),
            )),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn scopes_allow_what_they_list() {
        let s = ApiKeyScope {
            services: vec!["Erp.BO.PartSvc".into()],
            methods: vec!["Erp.BO.CustomerSvc/GetByID".into()],
            baqs: vec!["zPartSales".into()],
            functions: vec!["CustomerTools/GetCreditStatus".into()],
        };
        assert!(allowed(&s, &Target::Service("Erp.BO.PartSvc".into())));
        assert!(allowed(
            &s,
            &Target::Method {
                service: "Erp.BO.PartSvc".into(),
                method: "GetList".into()
            }
        ));
        assert!(allowed(
            &s,
            &Target::Method {
                service: "Erp.BO.CustomerSvc".into(),
                method: "GetByID".into()
            }
        ));
        assert!(!allowed(
            &s,
            &Target::Method {
                service: "Erp.BO.CustomerSvc".into(),
                method: "Update".into()
            }
        ));
        assert!(!allowed(&s, &Target::Service("Erp.BO.CustomerSvc".into())));
        assert!(allowed(&s, &Target::Baq("zPartSales".into())));
        assert!(!allowed(&s, &Target::Baq("zCustomerList".into())));
        assert!(allowed(
            &s,
            &Target::Function {
                library: "CustomerTools".into(),
                function: "GetCreditStatus".into()
            }
        ));
        assert!(!allowed(
            &s,
            &Target::Function {
                library: "CustomerTools".into(),
                function: "SetCreditHold".into()
            }
        ));
        assert!(allowed(&s, &Target::Listing));
    }
}
